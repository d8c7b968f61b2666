'use strict'

// Real loopback servers and small utilities shared by the tests.

const net = require('node:net')
const tls = require('node:tls')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')

/**
 * Listens on port 0 with `server`, tracking its connections so that
 * close() can end them; resolves to { server, port, host, sockets, close }.
 */
function serve (server, handler, host) {
  return new Promise((resolve, reject) => {
    const sockets = new Set()
    server.on('connection', (sock) => {
      sockets.add(sock)
      sock.on('close', () => sockets.delete(sock))
    })
    server.on(server instanceof tls.Server ? 'secureConnection' : 'connection', (sock) => {
      sock.on('error', () => {})
      handler(sock)
    })
    server.on('tlsClientError', () => {})
    server.on('error', reject)
    server.listen(0, host, () => {
      resolve({
        server,
        port: server.address().port,
        host,
        sockets,
        close: () => closeServer(server, sockets)
      })
    })
  })
}

/** Starts a node:net server on port 0; resolves as `serve`. */
function listen (handler, host = '127.0.0.1', options = {}) {
  return serve(net.createServer(options), handler, host)
}

/** A Unix domain socket server in a fresh temporary directory. */
function listenUnix (handler) {
  return new Promise((resolve, reject) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-'))
    const file = path.join(dir, 's.sock')
    const sockets = new Set()
    const server = net.createServer((sock) => {
      sockets.add(sock)
      sock.on('close', () => sockets.delete(sock))
      sock.on('error', () => {})
      handler(sock)
    })
    server.on('error', reject)
    server.listen(file, () => {
      resolve({
        server,
        path: file,
        sockets,
        close: async () => {
          await closeServer(server, sockets)
          fs.rmSync(dir, { recursive: true, force: true })
        }
      })
    })
  })
}

function closeServer (server, sockets) {
  for (const s of sockets) s.destroy()
  return new Promise((resolve) => server.close(() => resolve()))
}

const echo = (sock) => sock.pipe(sock)

/** A port on which nothing listens (bound then released). */
async function closedPort () {
  const srv = await listen(() => {})
  await srv.close()
  return srv.port
}

/** Reads a whole readable into one Buffer. */
async function readAll (readable) {
  const reader = readable.getReader()
  const chunks = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
  }
  reader.releaseLock()
  return Buffer.concat(chunks)
}

/** Reads exactly n bytes with a default reader (leaves the reader locked). */
async function readExactly (reader, n) {
  const chunks = []
  let got = 0
  while (got < n) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`stream ended after ${got} of ${n} bytes`)
    chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
    got += value.byteLength
  }
  return Buffer.concat(chunks)
}

/** Collects what a node:net socket receives until it ends. */
function collect (sock) {
  return new Promise((resolve, reject) => {
    const chunks = []
    sock.on('data', (c) => chunks.push(c))
    sock.on('end', () => resolve(Buffer.concat(chunks)))
    sock.on('error', reject)
  })
}

const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex')

/** Resolves with the first connection a server accepts. */
function nextConnection (srv) {
  return new Promise((resolve) => srv.server.once('connection', resolve))
}

/** Settles within ms or rejects: a guard so a bug shows as a failure, not a hang. */
function within (promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
    })
  ]).finally(() => clearTimeout(timer))
}

/** Whether a promise is still pending after the event loop had a turn. */
async function isPending (promise, ms = 50) {
  const marker = Symbol('pending')
  const r = await Promise.race([
    promise.then(() => 'resolved', () => 'rejected'),
    new Promise((resolve) => setTimeout(() => resolve(marker), ms))
  ])
  return r === marker
}

/**
 * Runs node with `args` in a child process (from the package root) with a
 * time limit. Resolves with { code, signal, stdout, stderr, timedOut }.
 */
function runNode (args, { timeout = 10000, env = {} } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeout)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, timedOut })
    })
  })
}

/** Runs CommonJS `source` in a child Node process; see `runNode`. */
function runScript (source, { timeout = 10000, env = {}, args = [] } = {}) {
  return runNode([...args, '--input-type=commonjs', '-e', source], { timeout, env })
}

/**
 * A listener whose accept queue is full and which never accepts: a connect
 * to it stays in progress (SYNs are dropped), as against a vanished host.
 * Node always accepts, so a tiny Python process holds the listener.
 */
async function unresponsiveListener () {
  const child = spawn('python3', ['-c', [
    'import socket, sys, time',
    's = socket.socket()',
    "s.bind(('127.0.0.1', 0))",
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()'
  ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())))
  })
  // Fill the queue: the kernel holds one connection, then drops SYNs.
  const filler = net.connect(port, '127.0.0.1')
  filler.on('error', () => {})
  await new Promise((resolve) => filler.once('connect', resolve))
  return {
    port,
    close: () => {
      filler.destroy()
      child.stdin.end()
      child.kill()
    }
  }
}

/**
 * Sends `payload` through an echoing `socket` in random-sized writes
 * (respecting `ready`), ends the writable, and reads everything back with a
 * default or BYOB reader. Resolves to { total, digest } of what came back.
 * `random` (0..1) picks the write sizes, up to `maxWrite`, and the BYOB
 * view sizes, up to `maxView`.
 */
async function echoThrough (socket, payload, readerMode, { maxWrite = 200000, maxView = 100003, random = Math.random } = {}) {
  const size = (max) => 1 + Math.floor(random() * max)
  const writer = socket.writable.getWriter()
  const sending = (async () => {
    for (let i = 0; i < payload.length;) {
      const n = size(maxWrite)
      await writer.ready
      await writer.write(payload.subarray(i, i + n))
      i += n
    }
    await writer.close()
  })()
  const hash = crypto.createHash('sha256')
  let total = 0
  if (readerMode === 'byob') {
    const reader = socket.readable.getReader({ mode: 'byob' })
    for (;;) {
      const { value, done } = await reader.read(new Uint8Array(size(maxView)))
      if (done) break
      hash.update(value)
      total += value.byteLength
    }
  } else {
    for await (const chunk of socket.readable) {
      hash.update(chunk)
      total += chunk.byteLength
    }
  }
  await sending
  return { total, digest: hash.digest('hex') }
}

/** A port free a moment ago on loopback (for servers that pick no port themselves). */
function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** A node:tls server on loopback; resolves as `serve` (close ends its connections). */
function listenTls (options, handler) {
  return serve(tls.createServer(options), handler, '127.0.0.1')
}

/** Open file descriptors of this process (Linux), for leak checks. */
function openFds () {
  try {
    return fs.readdirSync('/proc/self/fd').length
  } catch {
    return -1
  }
}

/**
 * A small seeded generator (mulberry32), so that a failing generated-input
 * run can be replayed from its printed seed.
 */
function generator (seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(next() * list.length)]
  }
}

/** A server whose connections read nothing until `peer.resume()`; resolves to { srv, peer() }. */
async function pausedPeer () {
  let resolvePeer
  const peer = new Promise((resolve) => { resolvePeer = resolve })
  const srv = await listen((sock) => {
    sock.pause()
    resolvePeer(sock)
  })
  return { srv, peer }
}

module.exports = {
  generator,
  pausedPeer,
  listen,
  listenUnix,
  echo,
  closedPort,
  readAll,
  readExactly,
  collect,
  sha256,
  nextConnection,
  within,
  isPending,
  runNode,
  runScript,
  openFds,
  echoThrough,
  freePort,
  listenTls,
  unresponsiveListener
}
