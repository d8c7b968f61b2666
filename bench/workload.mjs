// One measurement in a fresh process: node bench/workload.mjs <impl> <workload> <port> <amount>
// Prints { value, unit, maxRssMB } as JSON. Run by bench/run.mjs.

import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { Duplex } from 'node:stream'
import { connect as socketsApiConnect } from 'sockets-api'
import { connect as arrowoodConnect } from '@arrowood.dev/socket'

const [impl, workload, portText, amountText, caFile, clientFile] = process.argv.slice(2)
const port = Number(portText)
const amount = Number(amountText)
const secure = workload.startsWith('tls_')
const fs = await import('node:fs')
// TLS connect variants: the CA through NODE_EXTRA_CA_CERTS (added to the
// system's roots) instead of `ca`, or a client certificate (JSON { cert, key }).
const ca = caFile && workload !== 'tls_connect_env' ? fs.readFileSync(caFile, 'utf8') : undefined
const client = clientFile ? JSON.parse(fs.readFileSync(clientFile, 'utf8')) : {}
const MSG = 64

/**
 * Opens `n` sockets with `open`, at most HELD_WAVE connecting at a time
 * (a listen backlog is bounded: thousands of SYNs at once overflow it and
 * the peer resets some), and resolves to all of them, held open.
 */
const HELD_WAVE = 1000
async function openHeld (n, open) {
  const held = []
  let started = 0
  const opener = async () => {
    while (started < n) {
      started++
      held.push(await open())
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, HELD_WAVE) }, opener))
  return held
}

/** CPU time (user + system) of this process since `c0`, in ms. */
function cpuSince (c0) {
  const d = process.cpuUsage(c0)
  return (d.user + d.system) / 1000
}

// --- stream-based implementations: { readable, writable, close() } ----------

// TLS rows measure full handshakes, except "reconnect", which resumes.
const resume = workload === 'tls_reconnect'

async function openStreams () {
  if (impl === 'sockets-api') {
    const s = socketsApiConnect(`localhost:${port}`, secure ? { secureTransport: 'on', ca, ...client, sessionResumption: resume } : {})
    await s.opened
    return { readable: s.readable, writable: s.writable, close: () => s.close() }
  }
  if (impl === 'arrowood') {
    const s = arrowoodConnect(`localhost:${port}`, secure ? { secureTransport: 'on' } : {})
    await s.opened
    return { readable: s.readable, writable: s.writable, close: () => s.close() }
  }
  if (impl === 'toWeb') {
    const s = secure
      ? tls.connect({ port, host: 'localhost', ca })
      : net.connect({ port, host: 'localhost', noDelay: true })
    await once(s, secure ? 'secureConnect' : 'connect')
    const { readable, writable } = Duplex.toWeb(s)
    return { readable, writable, close: () => { s.destroy(); return once(s, 'close') } }
  }
  throw new Error(`unknown implementation ${impl}`)
}

/** Reads exactly n bytes; returns the leftover-free total. */
async function readN (reader, n) {
  let got = 0
  while (got < n) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`ended after ${got} of ${n} bytes`)
    got += value.byteLength
  }
  return got
}

function lengthPrefix (n) {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(n))
  return b
}

const streamWorkloads = {
  async download (size) {
    const s = await openStreams()
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    const w = s.writable.getWriter()
    await w.write(lengthPrefix(size))
    await readN(s.readable.getReader(), size)
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    w.releaseLock()
    await s.close()
    return { value: size / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / (size / 1e6), cpuUnit: 'µs/MB' }
  },
  async upload (size) {
    const s = await openStreams()
    const chunk = Buffer.alloc(64 * 1024, 1)
    const w = s.writable.getWriter()
    const reader = s.readable.getReader()
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let sent = 0; sent < size; sent += chunk.length) {
      await w.ready
      w.write(chunk)
    }
    await w.close()
    await readN(reader, 8)
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    await s.close()
    return { value: size / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / (size / 1e6), cpuUnit: 'µs/MB' }
  },
  async pingpong (n) {
    const s = await openStreams()
    const w = s.writable.getWriter()
    const r = s.readable.getReader()
    const msg = Buffer.alloc(MSG, 7)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      await w.write(msg)
      await readN(r, MSG)
    }
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    w.releaseLock()
    r.releaseLock()
    await s.close()
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  async connect (n) {
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const s = await openStreams()
      await s.close()
    }
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  // Connect, one 64-byte exchange (which also brings the server's session
  // tickets), close: a pooled client's new connection.
  async reconnect (n) {
    const msg = new Uint8Array(MSG).fill(5)
    const exchange = async () => {
      const s = await openStreams()
      const w = s.writable.getWriter()
      const r = s.readable.getReader()
      await w.write(msg)
      let got = 0
      while (got < MSG) got += (await r.read()).value.byteLength
      w.releaseLock()
      r.releaseLock()
      await s.close()
    }
    await exchange() // the first connection is a full handshake
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) await exchange()
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  // `n` sockets open at once, each exchanging 64 bytes, then all closed: what
  // a server holding thousands of client connections costs (RSS column).
  async held (n) {
    const msg = new Uint8Array(MSG).fill(6)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    const open = await openHeld(n, async () => {
      const s = await openStreams()
      const w = s.writable.getWriter()
      const r = s.readable.getReader()
      await w.write(msg)
      let got = 0
      while (got < MSG) got += (await r.read()).value.byteLength
      w.releaseLock()
      r.releaseLock()
      return s
    })
    await Promise.all(open.map((s) => s.close()))
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: ms * 1000 / n, unit: 'µs/socket', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/socket' }
  },
  async concurrent (sockets) {
    const rounds = Number(process.env.BENCH_ROUNDS || 20)
    const msg = Buffer.alloc(1024, 3)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    await Promise.all(Array.from({ length: sockets }, async () => {
      const s = await openStreams()
      const w = s.writable.getWriter()
      const r = s.readable.getReader()
      for (let i = 0; i < rounds; i++) {
        await w.write(msg)
        await readN(r, msg.length)
      }
      w.releaseLock()
      r.releaseLock()
      await s.close()
    }))
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (sockets * rounds * msg.length * 2) / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / ((sockets * rounds * msg.length * 2) / 1e6), cpuUnit: 'µs/MB' }
  }
}

// --- node:net / node:tls with callbacks ---------------------------------------

// node:tls with the session of the last connection, as https.Agent reuses it.
let lastSession

function openRaw () {
  const s = secure
    ? tls.connect({ port, host: 'localhost', ca, ...client, session: impl === 'tlsResumed' ? lastSession : undefined })
    : net.connect({ port, host: 'localhost', noDelay: true })
  if (impl === 'tlsResumed') s.on('session', (session) => { lastSession = session })
  return once(s, secure ? 'secureConnect' : 'connect').then(() => s)
}

function readRaw (s, n) {
  return new Promise((resolve, reject) => {
    let got = 0
    const onData = (d) => {
      got += d.length
      if (got >= n) {
        s.off('data', onData)
        s.off('error', reject)
        resolve(got)
      }
    }
    s.on('data', onData)
    s.on('error', reject)
  })
}

const rawWorkloads = {
  async download (size) {
    const s = await openRaw()
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    s.write(lengthPrefix(size))
    await readRaw(s, size)
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    s.destroy()
    return { value: size / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / (size / 1e6), cpuUnit: 'µs/MB' }
  },
  async upload (size) {
    const s = await openRaw()
    const chunk = Buffer.alloc(64 * 1024, 1)
    const done = readRaw(s, 8)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!s.write(chunk)) await once(s, 'drain')
    }
    s.end()
    await done
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    s.destroy()
    return { value: size / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / (size / 1e6), cpuUnit: 'µs/MB' }
  },
  async pingpong (n) {
    const s = await openRaw()
    const msg = Buffer.alloc(MSG, 7)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    await new Promise((resolve, reject) => {
      let i = 0
      let got = 0
      s.on('error', reject)
      s.on('data', (d) => {
        got += d.length
        if (got >= MSG) {
          got -= MSG
          if (++i === n) return resolve()
          s.write(msg)
        }
      })
      s.write(msg)
    })
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    s.destroy()
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  async connect (n) {
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const s = await openRaw()
      s.end()
      s.resume()
      await once(s, 'close')
    }
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  async reconnect (n) {
    const msg = Buffer.alloc(MSG, 5)
    const exchange = async () => {
      const s = await openRaw()
      const got = readRaw(s, MSG)
      s.write(msg)
      await got
      s.end()
      s.resume()
      await once(s, 'close')
    }
    await exchange()
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) await exchange()
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (ms * 1000) / n, unit: 'µs/op', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/op' }
  },
  async held (n) {
    const msg = Buffer.alloc(MSG, 6)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    const open = await openHeld(n, async () => {
      const s = await openRaw()
      const got = readRaw(s, MSG)
      s.write(msg)
      await got
      return s
    })
    await Promise.all(open.map((s) => {
      s.end()
      s.resume()
      return once(s, 'close')
    }))
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: ms * 1000 / n, unit: 'µs/socket', cpu: (cpuMs * 1000) / n, cpuUnit: 'µs/socket' }
  },
  async concurrent (sockets) {
    const rounds = Number(process.env.BENCH_ROUNDS || 20)
    const msg = Buffer.alloc(1024, 3)
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    await Promise.all(Array.from({ length: sockets }, async () => {
      const s = await openRaw()
      for (let i = 0; i < rounds; i++) {
        s.write(msg)
        await readRaw(s, msg.length)
      }
      s.end()
      s.resume()
      await once(s, 'close')
    }))
    const ms = performance.now() - t0
    const cpuMs = cpuSince(c0)
    return { value: (sockets * rounds * msg.length * 2) / 1e6 / (ms / 1000), unit: 'MB/s', cpu: (cpuMs * 1000) / ((sockets * rounds * msg.length * 2) / 1e6), cpuUnit: 'µs/MB' }
  }
}

const base = workload.replace(/^tls_/, '').replace(/^connect_(env|cert)$/, 'connect')
const table = impl === 'net' || impl === 'tls' || impl === 'tlsResumed' ? rawWorkloads : streamWorkloads
const result = await table[base](amount)
result.maxRssMB = process.resourceUsage().maxRSS / 1024
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)
