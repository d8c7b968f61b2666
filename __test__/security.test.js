'use strict'

// Verification can only be turned off by rejectUnauthorized: false; a reader
// reaches only the bytes its socket received; input that C code would choke
// on is refused before it gets there.

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const tls = require('node:tls')
const crypto = require('node:crypto')
const { connect, SocketError } = require('sockets-api')
const { certs } = require('./certs')
const { listen, listenUnix, listenTls, readAll, within, runScript, sha256, pausedPeer } = require('./helpers')

const C = certs()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** How `socket` ended: null when it opened, else the error. */
const outcome = (socket) => socket.opened.then(() => { socket.close(); return null }, (e) => e)

/** What node:tls says for the same case. */
function nodeTls (options) {
  return new Promise((resolve) => {
    const s = tls.connect(options)
    s.on('secureConnect', () => { s.destroy(); resolve(null) })
    s.on('error', (e) => resolve(e))
  })
}

for (const key of ['servername', 'sni', 'expectedServerHostname']) {
  test(`${key}: '' does not turn the host name check off: the connect host is verified`, async (t) => {
    const srv = await listenTls(C.wrongName, (s) => s.end('must not be read'))
    t.after(() => srv.close())
    const err = await outcome(connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, [key]: '' }))
    assert.ok(err instanceof SocketError, String(err))
    assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    const node = await nodeTls({ port: srv.port, host: 'localhost', ca: C.ca, servername: '' })
    assert.equal(node.code, err.code)
    // And the right certificate still opens with the empty name.
    const good = await listenTls(C.server, (s) => s.end('ok'))
    t.after(() => good.close())
    assert.equal(await outcome(connect(`localhost:${good.port}`, { secureTransport: 'on', ca: C.ca, [key]: '' })), null)
  })
}

test("startTls({ servername: '' }) verifies the connect host", async (t) => {
  const srv = await listen((sock) => {
    sock.once('data', () => {
      sock.write('go\n')
      const secure = new tls.TLSSocket(sock, { isServer: true, ...C.wrongName })
      secure.on('error', () => {})
    })
  })
  t.after(() => srv.close())
  const plain = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  const w = plain.writable.getWriter()
  await w.write('STARTTLS\n')
  const r = plain.readable.getReader()
  await r.read()
  r.releaseLock()
  w.releaseLock()
  const secure = plain.startTls({ servername: '' })
  const err = await outcome(secure)
  assert.equal(err && err.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
})

test('TLS over a Unix socket verifies localhost, as node:tls does', async (t) => {
  for (const [cert, expected] of [[C.server, null], [C.wrongName, 'ERR_TLS_CERT_ALTNAME_INVALID']]) {
    const server = tls.createServer(cert, (s) => s.end('hello'))
    server.on('tlsClientError', () => {})
    const srv = await listenUnix(() => {})
    srv.server.removeAllListeners('connection')
    srv.server.on('connection', (raw) => server.emit('connection', raw))
    t.after(() => srv.close())
    const err = await outcome(connect({ path: srv.path }, { secureTransport: 'on', ca: C.ca }))
    assert.equal(err && err.code, expected, String(err))
    const node = await nodeTls({ path: srv.path, ca: C.ca })
    assert.equal(node && node.code, expected)
    // An explicit name is what gets checked.
    const named = await outcome(connect({ path: srv.path }, { secureTransport: 'on', ca: C.ca, servername: 'wrong.example' }))
    assert.equal(named && named.code, expected === null ? 'ERR_TLS_CERT_ALTNAME_INVALID' : null)
  }
})

test('a name verified by OpenSSL: wildcards span one label, IP literals match IP altnames only', async (t) => {
  const { issue } = require('./certs')
  const forge = require('node-forge')
  const issuer = { cert: forge.pki.certificateFromPem(C.ca), key: forge.pki.privateKeyFromPem(C.caKey) }
  const wild = issue({ cn: 'x', san: { dns: ['*.local.test'], ip: ['127.0.0.1'] }, issuer })
  const srv = await listenTls({ cert: wild.certPem, key: wild.keyPem }, (s) => s.end())
  t.after(() => srv.close())
  const at = (host, servername) => outcome(connect(`127.0.0.1:${srv.port}`, { secureTransport: 'on', ca: C.ca, servername }))
  assert.equal(await at('127.0.0.1', 'a.local.test'), null)
  assert.equal((await at('127.0.0.1', 'a.b.local.test')).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  assert.equal((await at('127.0.0.1', 'local.test')).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  assert.equal(await at('127.0.0.1', undefined), null) // the IP literal
  assert.equal((await at('127.0.0.1', '127.0.0.2')).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  // Verification off is the only way past it.
  assert.equal(await outcome(connect(`127.0.0.1:${srv.port}`, {
    secureTransport: 'on', ca: C.ca, servername: 'other.example', rejectUnauthorized: false
  })), null)
})

test("no chunk's ArrayBuffer holds bytes other than its own, and kept chunks cost what they hold", async (t) => {
  // 17 KiB pieces, each arriving on its own; then a flood of full reads.
  const PIECE = 17 * 1024
  const pieces = Array.from({ length: 60 }, () => crypto.randomBytes(PIECE))
  const flood = crypto.randomBytes(8 * 1024 * 1024)
  const srv = await listen(async (sock) => {
    for (const p of pieces) {
      sock.write(p)
      await sleep(3)
    }
    sock.end(flood)
  })
  t.after(() => srv.close())
  // Another connection's data sits in the shared read buffer meanwhile.
  const other = await listen((sock) => sock.end(Buffer.alloc(200 * 1024, 0xee)))
  t.after(() => other.close())
  const noise = connect(`127.0.0.1:${other.port}`)
  await readAll(noise.readable)

  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader()
  const kept = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    kept.push(value)
  }
  const received = Buffer.concat(kept)
  assert.equal(sha256(received), sha256(Buffer.concat([...pieces, flood])))
  let held = 0
  for (const chunk of kept) {
    assert.equal(chunk.byteOffset, 0)
    assert.equal(chunk.buffer.byteLength, chunk.byteLength, 'the chunk is its whole buffer')
    held += chunk.buffer.byteLength
  }
  assert.equal(held, received.length)
  // Nothing of the other connection is reachable from this socket's chunks.
  for (const chunk of kept) assert.ok(!Buffer.from(chunk.buffer).includes(Buffer.alloc(64, 0xee)))
})

test('a passphrase or a name with a NUL byte is a SocketError at once, not an abort', async () => {
  const r = await runScript(`
    const { connect, SocketError } = require('./')
    const forge = require('node-forge')
    const { certs } = require('./__test__/certs')
    const C = certs()
    const p12 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(C.client.key),
      [forge.pki.certificateFromPem(C.client.cert)], 'pass', { algorithm: '3des' })
    const pfx = Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary')
    const cases = [
      { pfx, passphrase: 'pa\\0ss' },
      { cert: C.client.cert, key: C.client.key, passphrase: '\\0' },
      { servername: 'local\\0host' },
      { sni: '\\0' },
      { expectedServerHostname: 'a\\0' }
    ]
    for (const o of cases) {
      try {
        connect('127.0.0.1:1', { secureTransport: 'on', ...o })
        console.log('no error')
      } catch (e) {
        console.log(e instanceof SocketError, e.code, /NUL/.test(e.message))
      }
    }
    // startTls checks its options the same way.
    const s = connect('127.0.0.1:1', { secureTransport: 'starttls' })
    try { s.startTls({ servername: 'x\\0' }) } catch (e) { console.log(e instanceof SocketError, e.code, /NUL/.test(e.message)) }
    s.close()
  `)
  assert.equal(r.signal, null, r.stderr)
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), Array(6).fill('true ERR_INVALID_ARG_VALUE true'))
})

test('the native layer refuses a NUL in a TLS string itself (no panic, a coded error)', async () => {
  // Straight to the binding, past the shim's own checks.
  const r = await runScript(`
    const { NativeSocket } = require('./binding.js')
    const bad = [{ servername: 'a\\0b' }, { servername: 'localhost', pfx: new Uint8Array(8), passphrase: 'p\\0' }]
    for (const extra of bad) {
      const native = new NativeSocket(() => {})
      try {
        native.connect({ kind: 'tcp', hostname: '127.0.0.1', port: 1 },
          { noDelay: true, tls: { rejectUnauthorized: true, servername: 'localhost', ...extra } })
        console.log('no error')
      } catch (e) {
        console.log(e.code)
      }
      native.close()
    }
    // An empty name with verification on is refused too.
    const native = new NativeSocket(() => {})
    try {
      native.connect({ kind: 'tcp', hostname: '127.0.0.1', port: 1 }, { noDelay: true, tls: { rejectUnauthorized: true, servername: '' } })
      console.log('no error')
    } catch (e) { console.log(e.code) }
    native.close()
  `)
  assert.equal(r.signal, null, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n'), Array(3).fill('ERR_INVALID_ARG_VALUE'))
})

test('the native read and write calls refuse anything but a native socket and a Uint8Array (an error, not a crash)', async () => {
  // Straight to the binding: a wrong receiver must not be taken for a socket.
  const r = await runScript(`
    const { NativeSocket, readInto, writeFrom } = require('./binding.js')
    const native = new NativeSocket(() => {})
    class Other {}
    const view = new Uint8Array(16)
    const cases = [
      () => readInto({}, view),
      () => readInto(new Other(), view),
      () => readInto(view, view),
      () => writeFrom(null, view),
      () => writeFrom(native, 'text'),
      () => readInto(native, new Uint16Array(4)),
      () => readInto(native, new DataView(new ArrayBuffer(4))),
      () => readInto(native),
      () => writeFrom()
    ]
    for (const run of cases) {
      try {
        run()
        console.log('no error')
      } catch (e) {
        console.log(e instanceof Error)
      }
    }
    // A socket that was never connected reads as ended.
    console.log(readInto(native, view), native.takeError()?.code)
    native.close()
  `)
  assert.equal(r.signal, null, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.deepEqual(lines.slice(0, 9), Array(9).fill('true'), r.stdout)
  assert.equal(lines[9], '-1 undefined', r.stdout)
})

test('closeTimeout and connectTimeout of 2^31 ms or more are clamped, not fired at once', async (t) => {
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.after(() => process.off('warning', onWarning))
  const payload = crypto.randomBytes(8 * 1024 * 1024)
  let peer
  const srv = await listen((sock) => {
    peer = sock
    sock.pause()
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, { closeTimeout: 2 ** 31, connectTimeout: 2 ** 33 })
  await socket.opened
  const w = socket.writable.getWriter()
  w.write(payload).catch(() => {})
  const closing = socket.close()
  // A slow reader is not reset: close() waits while nothing moves.
  await sleep(200)
  const got = []
  peer.on('data', (d) => got.push(d))
  const ended = new Promise((resolve) => peer.on('end', resolve))
  peer.resume()
  await within(closing, 10000, 'close()')
  await ended
  assert.equal(sha256(Buffer.concat(got)), sha256(payload))
  assert.deepEqual(warnings.map((w) => w.name), [])
})

test('write(32 MB) then close() in the same turn: the write resolves only once the socket took its bytes', async (t) => {
  const payload = crypto.randomBytes(32 * 1024 * 1024)
  const { srv, peer: accepted } = await pausedPeer()
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const peer = await accepted
  const w = socket.writable.getWriter()
  let written = false
  const write = w.write(payload).then(() => { written = true })
  const closing = socket.close()
  await sleep(150)
  assert.equal(written, false, 'resolved while the peer had taken nothing')
  const got = []
  peer.on('data', (d) => got.push(d))
  peer.resume()
  await within(Promise.all([write, closing]), 10000, 'write and close')
  await new Promise((resolve) => peer.on('end', resolve))
  assert.equal(sha256(Buffer.concat(got)), sha256(payload))
})

test('a write being flushed by close() rejects when the peer resets before taking it', async (t) => {
  const { srv, peer: accepted } = await pausedPeer()
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const peer = await accepted
  const w = socket.writable.getWriter()
  const write = w.write(crypto.randomBytes(32 * 1024 * 1024))
  socket.close().catch(() => {})
  await sleep(100)
  peer.resetAndDestroy()
  await assert.rejects(within(write, 5000, 'write'), (e) => e instanceof SocketError || e instanceof TypeError)
})

test('keepAlive beyond the kernel limit (32767 s) is clamped and connects, as node:net does', async (t) => {
  const srv = await listen((sock) => sock.end('hi'))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, { keepAlive: 40000 * 1000 })
  assert.equal((await readAll(socket.readable)).toString(), 'hi')
  const viaNet = await new Promise((resolve) => {
    const s = net.connect(srv.port, '127.0.0.1', () => { s.setKeepAlive(true, 40000 * 1000); s.destroy(); resolve('ok') })
    s.on('error', (e) => resolve(e.code))
  })
  assert.equal(viaNet, 'ok')
})

test('a Unix socket path longer than the platform allows is a SocketError at once, saying so', () => {
  const long = '/tmp/' + 'a'.repeat(200)
  assert.throws(() => connect({ path: long }), (e) => e instanceof SocketError && /at most \d+/.test(e.message))
  assert.throws(() => connect(`unix:${long}`), (e) => e instanceof SocketError && /at most \d+/.test(e.message))
})

test('connectors are reused per configuration, and different trust settings never share one', async (t) => {
  const srv = await listenTls(C.server, (s) => s.end('hi'))
  t.after(() => srv.close())
  const attempt = (o) => outcome(connect(`localhost:${srv.port}`, { secureTransport: 'on', ...o }))
  for (let i = 0; i < 2; i++) {
    assert.equal(await attempt({ ca: C.ca }), null)
    assert.equal((await attempt({ ca: C.otherCa })).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    assert.equal((await attempt({ ca: [C.otherCa] })).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    assert.equal(await attempt({ ca: [C.otherCa, C.ca] }), null)
    assert.equal(await attempt({ ca: C.otherCa, rejectUnauthorized: false }), null)
    assert.equal((await attempt({ ca: C.otherCa, rejectUnauthorized: true })).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
    assert.equal((await attempt({ ca: C.ca, servername: 'wrong.example' })).code, 'ERR_TLS_CERT_ALTNAME_INVALID')
    assert.equal(await attempt({ ca: C.ca }), null)
  }
})
