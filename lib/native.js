'use strict'

// The native binding and what comes with it: the protocol's constants (defined
// once in src/protocol.rs) and the event loop's turn counter.

const binding = loadBinding()

/**
 * The platform's prebuilt addon. Without one, say so plainly (the loader's
 * own error guesses at an npm bug and nests the attempts four deep; they stay
 * available as `cause`).
 */
function loadBinding () {
  try {
    return require('../binding.js')
  } catch (e) {
    const { platform, arch } = process
    const libc = platform === 'linux' ? (process.report?.getReport().header.glibcVersionRuntime ? ' (glibc)' : ' (musl)') : ''
    const error = new Error(
      `sockets-api has no native addon for ${platform}-${arch}${libc} here. ` +
      'Build it from source (Rust, and on Linux the OpenSSL headers and pkg-config: ' +
      '`npm run build` in the package), or, on a runtime with its own connect() ' +
      "(Cloudflare Workers), use that: the package's `workerd` export does.", { cause: e })
    error.code = 'ERR_SOCKETS_API_NO_BINARY'
    throw error
  }
}

// Bun and Deno load Node-API addons and export libuv's functions, but not
// libuv: Bun's abort the process, Deno's poll handles never report (reads
// wait forever). There readiness comes from the addon's runtime.
if (process.versions.bun || typeof globalThis.Deno !== 'undefined') binding.useRuntimeReadiness()

const {
  evOpened: EV_OPENED, evFailed: EV_FAILED, evReady: EV_READY,
  readable: READABLE, writable: WRITABLE, readEof: READ_EOF, wouldBlock: WOULD_BLOCK
} = binding.protocolConstants()

// Turns of the event loop (for close(): did a read get data in this turn?).
// libuv counts them itself where it can say (a cheap native call); else they
// are counted only while someone asks: one setImmediate per turn in which a
// read delivered data, shared by all sockets.
const loopTurn = binding.eventLoopTurn() === null ? null : binding.eventLoopTurn
let turn = 0
let turnPending = false
function currentTurn () {
  if (loopTurn !== null) return loopTurn()
  if (!turnPending) {
    turnPending = true
    setImmediate(nextTurn).unref()
  }
  return turn
}
function nextTurn () {
  turn++
  turnPending = false
}

// The data path's calls, as plain functions of (native socket, view): the
// byte count, or one of the negative codes below (src/fast_calls.rs).
const { readInto, writeFrom } = binding

module.exports = {
  binding,
  NativeSocket: binding.NativeSocket,
  readInto,
  writeFrom,
  EV_OPENED,
  EV_FAILED,
  EV_READY,
  READABLE,
  WRITABLE,
  READ_EOF,
  WOULD_BLOCK,
  currentTurn
}
