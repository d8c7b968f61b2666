'use strict'

// A TCP proxy that misbehaves on request, for the fault suite. It sits
// between the socket under test and a real server, and for each direction
// ('down': server -> client, 'up': client -> server) can:
//   chunk:      split what it forwards into random pieces of 1..chunk bytes
//   delay:      wait up to `delay` ms (random) before each piece
//   cutAt:      forward exactly N bytes, then end both connections (FIN)
//   resetAt:    forward N bytes, then reset both connections (RST)
//   halfCloseAt: forward N bytes, then end this direction only (FIN)
//   stallAt:    forward N bytes, then forward and read nothing more
// Order is kept: each direction is one queue.

const net = require('node:net')

function randomInt (max) {
  return 1 + Math.floor(Math.random() * max)
}

/**
 * Starts a proxy to `target` ({ port, host }) with `faults` ({ up, down }).
 * Resolves to { port, connections, stats, close() }; `stats` counts the bytes
 * forwarded each way.
 */
async function faultProxy (target, faults = {}) {
  const stats = { up: 0, down: 0, connections: 0 }
  const pairs = new Set()
  // Half-open both ways: an end travels through like any byte, not early.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++
    const upstream = net.connect({ port: target.port, host: target.host || '127.0.0.1', allowHalfOpen: true })
    const pair = { client, upstream }
    pairs.add(pair)
    const endAll = (how) => {
      for (const s of [client, upstream]) {
        if (how === 'reset') { if (!s.destroyed) s.resetAndDestroy() } else s.end()
      }
    }
    // A side that fails takes the other down with it; ends travel in order
    // through each direction's queue (see pipe).
    const fail = (other) => () => { if (!other.destroyed) other.resetAndDestroy() }
    client.on('error', fail(upstream))
    upstream.on('error', fail(client))
    const forget = () => {
      if (client.destroyed && upstream.destroyed) pairs.delete(pair)
    }
    client.on('close', forget)
    upstream.on('close', forget)
    pipe(client, upstream, faults.up || {}, (n) => { stats.up += n }, endAll)
    pipe(upstream, client, faults.down || {}, (n) => { stats.down += n }, endAll)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    stats,
    close () {
      for (const { client, upstream } of pairs) {
        client.destroy()
        upstream.destroy()
      }
      return new Promise((resolve) => server.close(() => resolve()))
    }
  }
}

function pipe (from, to, fault, count, endAll) {
  let forwarded = 0
  let stopped = false
  let queue = Promise.resolve()
  const limit = Math.min(
    fault.cutAt ?? Infinity, fault.resetAt ?? Infinity,
    fault.halfCloseAt ?? Infinity, fault.stallAt ?? Infinity)

  const send = (piece) => new Promise((resolve) => {
    if (to.destroyed) return resolve()
    if (to.write(piece)) resolve()
    else to.once('drain', resolve)
  })
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

  const atLimit = () => {
    stopped = true
    if (fault.cutAt !== undefined) endAll('cut')
    else if (fault.resetAt !== undefined) {
      // Let what was written reach the kernel first; RST drops anything
      // still unsent, so the peer may see fewer than N bytes, never more.
      setImmediate(() => endAll('reset'))
    } else if (fault.halfCloseAt !== undefined) to.end()
    else from.pause() // stall: nothing more is read or sent
  }

  from.on('data', (data) => {
    if (stopped) return
    let chunk = data
    if (forwarded + chunk.length >= limit) {
      chunk = chunk.subarray(0, limit - forwarded)
      stopped = true
    }
    forwarded += chunk.length
    const last = stopped
    from.pause()
    queue = queue.then(async () => {
      for (let i = 0; i < chunk.length;) {
        const n = fault.chunk ? randomInt(fault.chunk) : chunk.length
        if (fault.delay) await wait(Math.floor(Math.random() * (fault.delay + 1)))
        const piece = chunk.subarray(i, i + n)
        await send(piece)
        count(piece.length)
        i += n
      }
      if (last) atLimit()
      else from.resume()
    })
  })
  from.on('end', () => {
    queue = queue.then(() => { if (!stopped) to.end() })
  })
}

module.exports = { faultProxy }
