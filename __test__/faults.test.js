'use strict'

// Faults between us and the peer, injected by a proxy on loopback: resets,
// cuts, half-closes, stalls, delays and re-chunking. Every case checks that
// what arrived is exactly a prefix of (or all of) what was sent, that errors
// carry the right code, and that no descriptor or native socket stays open.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { connect } = require('sockets-api')
const { openSocketCount } = require('../binding.js')
const { faultProxy } = require('./fault-proxy')
const { certs } = require('./certs')
const { listen, listenTls, sha256, within, isPending, openFds, echoThrough } = require('./helpers')

const C = certs()
const SOURCE = crypto.randomBytes(8 * 1024 * 1024)

/** Server modes: send SOURCE and end; or hash what arrives until the end. */
const sender = (sock) => { sock.on('error', () => {}); sock.end(SOURCE) }
function sink (results) {
  return (sock) => {
    const hash = crypto.createHash('sha256')
    let total = 0
    sock.on('data', (d) => { hash.update(d); total += d.length })
    sock.on('error', () => {})
    sock.on('close', () => results.push({ total, digest: hash.digest('hex') }))
  }
}

/** One idempotent close for a test's servers, run by `t.after` too. */
function closer (t, ...servers) {
  let closing = null
  const close = () => {
    closing ??= servers.reduce((p, srv) => p.then(() => srv.close()), Promise.resolve())
    return closing
  }
  t.after(close)
  return close
}

/**
 * A plain or TLS server plus a proxy in front. `close()` (also run by
 * `t.after`) stops both, so a test can count descriptors afterwards.
 */
async function behindProxy (t, secure, handler, faults) {
  const srv = secure ? await listenTls(C.server, handler) : await listen(handler)
  const proxy = await faultProxy({ port: srv.port }, faults)
  const close = closer(t, proxy, srv)
  const options = secure ? { secureTransport: 'on', ca: C.ca, servername: 'localhost' } : {}
  return { proxy, close, open: () => connect({ hostname: '127.0.0.1', port: proxy.port }, options) }
}

/** Reads until the end or an error: { data, error }. */
async function drain (readable) {
  const reader = readable.getReader()
  const chunks = []
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return { data: Buffer.concat(chunks) }
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))
    }
  } catch (error) {
    return { data: Buffer.concat(chunks), error }
  }
}

const isPrefix = (data) => data.equals(SOURCE.subarray(0, data.length))

// The first socket sets up the runtime (its thread, epoll and wake-up
// descriptors); take the baselines after that.
test.before(async () => {
  const srv = await listen((s) => s.end('x'))
  const s = connect(`127.0.0.1:${srv.port}`)
  await drain(s.readable)
  await s.closed
  await srv.close()
})

/**
 * Descriptors and native sockets back where they were (allowing the loop a
 * moment). Servers must be closed first: their descriptors count too.
 */
async function assertReleased (fdsBefore) {
  for (let i = 0; i < 50 && (openSocketCount() !== 0 || openFds() > fdsBefore); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.equal(openSocketCount(), 0, 'native sockets left open')
  assert.ok(openFds() <= fdsBefore, `descriptors: ${openFds()} now, ${fdsBefore} before`)
}

for (const secure of [false, true]) {
  const kind = secure ? 'TLS' : 'plain'

  test(`${kind}: reset mid-download rejects the read and closed with ECONNRESET; bytes before it intact`, async (t) => {
    const fds = openFds()
    const env = await behindProxy(t, secure, sender, { down: { resetAt: 1024 * 1024 } })
    const socket = env.open()
    const { data, error } = await within(drain(socket.readable), 10000, 'the download')
    assert.ok(error, `the stream ended cleanly after ${data.length} bytes`)
    assert.equal(error.code, 'ECONNRESET', String(error))
    assert.ok(data.length > 0 && data.length < SOURCE.length, `${data.length} bytes`)
    assert.ok(isPrefix(data), 'what arrived is not what was sent')
    await assert.rejects(socket.closed, { code: 'ECONNRESET' })
    await env.close()
    await assertReleased(fds)
  })

  test(`${kind}: reset mid-upload rejects the pending write and closed with ECONNRESET`, async (t) => {
    const fds = openFds()
    const received = []
    const env = await behindProxy(t, secure, sink(received), { up: { resetAt: 2 * 1024 * 1024 } })
    const socket = env.open()
    const writer = socket.writable.getWriter()
    let sent = 0
    const error = await within((async () => {
      try {
        for (;;) {
          await writer.ready
          await writer.write(SOURCE.subarray(sent % SOURCE.length, (sent % SOURCE.length) + 65536))
          sent += 65536
        }
      } catch (e) {
        return e
      }
    })(), 10000, 'the upload')
    assert.equal(error.code, 'ECONNRESET', String(error))
    await assert.rejects(socket.closed, { code: 'ECONNRESET' })
    await env.close()
    await assertReleased(fds)
  })

  test(`${kind}: a connection cut after N bytes (FIN) ends the readable with a prefix`, async (t) => {
    const fds = openFds()
    const N = 3 * 1024 * 1024 + 17
    const env = await behindProxy(t, secure, sender, { down: { cutAt: N } })
    const socket = env.open()
    const { data, error } = await within(drain(socket.readable), 10000, 'the download')
    assert.equal(error, undefined)
    assert.ok(isPrefix(data), 'what arrived is not what was sent')
    // Plain: exactly N bytes. TLS: N bytes of records, so a little less plaintext.
    if (secure) assert.ok(data.length > 0 && data.length < N)
    else assert.equal(data.length, N)
    await within(socket.closed, 5000, 'closed')
    await env.close()
    await assertReleased(fds)
  })

  test(`${kind}: delays and re-chunking both ways deliver every byte in order`, async (t) => {
    const fds = openFds()
    const env = await behindProxy(t, secure, (s) => s.pipe(s), {
      up: { chunk: 3000, delay: 1 },
      down: { chunk: 700, delay: 1 }
    })
    const socket = env.open()
    const payload = SOURCE.subarray(0, 512 * 1024)
    const r = await within(echoThrough(socket, payload, 'byob', { maxWrite: 20000 }), 30000, 'the echo')
    assert.equal(r.total, payload.length)
    assert.equal(r.digest, sha256(payload))
    await socket.close()
    await env.close()
    await assertReleased(fds)
  })
}

test('a peer that half-closes after N bytes: the readable ends, writing goes on', async (t) => {
  const fds = openFds()
  const received = []
  const srv = await listen((sock) => {
    sink(received)(sock)
    sock.write(SOURCE.subarray(0, 100000))
    sock.end()
  })
  const proxy = await faultProxy({ port: srv.port }, { down: { halfCloseAt: 50000 } })
  const closeServers = closer(t, proxy, srv)
  const socket = connect(`127.0.0.1:${proxy.port}`, { allowHalfOpen: true })
  const { data, error } = await drain(socket.readable)
  assert.equal(error, undefined)
  assert.equal(data.length, 50000)
  assert.ok(isPrefix(data))
  const writer = socket.writable.getWriter()
  await writer.write(SOURCE.subarray(0, 300000))
  await writer.close()
  await within(socket.closed, 5000, 'closed')
  await within((async () => { while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10)) })(), 5000, 'the server')
  assert.equal(received[0].total, 300000)
  assert.equal(received[0].digest, sha256(SOURCE.subarray(0, 300000)))
  await closeServers()
  await assertReleased(fds)
})

test('a peer that stalls mid-stream: the read stays pending, close() ends it at once', async (t) => {
  const fds = openFds()
  const srv = await listen(sender)
  const proxy = await faultProxy({ port: srv.port }, { down: { stallAt: 100000 } })
  const closeServers = closer(t, proxy, srv)
  const socket = connect(`127.0.0.1:${proxy.port}`)
  const reader = socket.readable.getReader()
  let got = 0
  while (got < 100000) got += (await reader.read()).value.byteLength
  assert.equal(got, 100000)
  const pending = reader.read()
  assert.ok(await isPending(pending, 200), 'a read resolved with no data sent')
  await within(socket.close(), 2000, 'close()')
  assert.deepEqual(await pending, { value: undefined, done: true })
  await closeServers()
  await assertReleased(fds)
})

test('a peer that never reads: ready stays pending, memory bounded, close() gives up after closeTimeout', async (t) => {
  const fds = openFds()
  let serverSide
  const srv = await listen((sock) => {
    serverSide = sock
    sock.pause() // never reads
    sock.on('error', () => {})
  })
  const closeServers = closer(t, srv)
  const socket = connect(`127.0.0.1:${srv.port}`, { closeTimeout: 500 })
  const writer = socket.writable.getWriter()
  const rssBefore = process.memoryUsage().rss
  let accepted = 0
  // Write while the writable says there is room; count what it takes.
  for (;;) {
    const ready = writer.ready
    if (await isPending(ready, 300)) break
    writer.write(SOURCE.subarray(0, 65536)).catch(() => {})
    accepted += 65536
    assert.ok(accepted < 256 * 1024 * 1024, 'the writable never pushed back')
  }
  const grown = process.memoryUsage().rss - rssBefore
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew ${grown} bytes`)
  const started = Date.now()
  await assert.rejects(within(socket.close(), 5000, 'close()'), { code: 'ETIMEDOUT' })
  assert.ok(Date.now() - started >= 400, 'close() gave up before closeTimeout')
  // The server's end of the connection is gone too, without all the data.
  const serverClosed = new Promise((resolve) => serverSide.on('close', resolve))
  serverSide.resume()
  await within(serverClosed, 5000, 'the server seeing the connection end')
  assert.ok(serverSide.bytesRead < accepted, `${serverSide.bytesRead} of ${accepted} bytes arrived`)
  await closeServers()
  await assertReleased(fds)
})

test('a peer that never reads: close(reason) does not wait', async (t) => {
  const fds = openFds()
  const srv = await listen((sock) => { sock.pause(); sock.on('error', () => {}) })
  const closeServers = closer(t, srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  while (!(await isPending(writer.ready, 100))) writer.write(SOURCE.subarray(0, 65536)).catch(() => {})
  await within(socket.close(new Error('enough')), 1000, 'close(reason)')
  await closeServers()
  await assertReleased(fds)
})

test('a peer that vanishes (no FIN, no reset) under keepAlive: the read and closed reject with ETIMEDOUT after the probes', async (t) => {
  // Loopback always answers keep-alive probes, so the peer vanishes for real
  // in a private network namespace whose loopback is taken down.
  const probe = spawnSync('unshare', ['-n', 'true'])
  if (probe.status !== 0) return t.skip('needs `unshare -n` (root, or unprivileged user namespaces)')
  const fixture = path.join(__dirname, 'fixtures', 'vanish.js')
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$1"', process.execPath, fixture], {
    cwd: path.join(__dirname, '..'), encoding: 'utf8', timeout: 60000
  })
  assert.equal(r.status, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  assert.equal(report.read, 'ETIMEDOUT')
  assert.equal(report.closed, 'ETIMEDOUT')
  // keepAlive: 1000 -> probes after 1 s idle, one a second, ten unanswered.
  t.diagnostic(`the vanished peer was given up after ${report.ms} ms`)
})

test('keepAlive and connectTimeout: a connect that is never answered fails with ETIMEDOUT', async (t) => {
  const { unresponsiveListener } = require('./helpers')
  const fds = openFds()
  const l = await unresponsiveListener()
  t.after(() => l.close())
  const closeServers = async () => l.close()
  const socket = connect(`127.0.0.1:${l.port}`, { connectTimeout: 300, keepAlive: 1000 })
  await assert.rejects(within(socket.opened, 5000, 'opened'), { code: 'ETIMEDOUT' })
  await assert.rejects(socket.closed, { code: 'ETIMEDOUT' })
  await closeServers()
  await assertReleased(fds)
})
