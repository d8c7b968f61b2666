'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const tls = require('node:tls')
const crypto = require('node:crypto')
const forge = require('node-forge')
const { connect, SocketError } = require('sockets-api')
const { certs, tempFile } = require('./certs')
const { listen, readAll, readExactly, sha256, within, runScript, echoThrough } = require('./helpers')

const C = certs()

/** A node:tls server on loopback; resolves to { port, close, servernames, protocols }. */
function tlsServer (options, handler = (s) => s.pipe(s), host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sockets = new Set()
    const seen = { servernames: [], protocols: [], peers: [] }
    const server = tls.createServer(options, (sock) => {
      sockets.add(sock)
      seen.servernames.push(sock.servername)
      seen.protocols.push(sock.alpnProtocol)
      seen.peers.push(sock.getPeerCertificate())
      sock.on('close', () => sockets.delete(sock))
      sock.on('error', () => {})
      handler(sock)
    })
    server.on('tlsClientError', () => {})
    server.on('error', reject)
    server.listen(0, host, () => {
      resolve({
        port: server.address().port,
        ...seen,
        close: () => {
          for (const s of sockets) s.destroy()
          return new Promise((resolve) => server.close(() => resolve()))
        }
      })
    })
  })
}

/** The error code node:tls reports for the same server and options. */
function nodeTlsCode (port, options) {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...options })
    s.on('secureConnect', () => { s.destroy(); resolve(null) })
    s.on('error', (e) => resolve(e.code))
  })
}

test("secureTransport 'on': a verified round trip; opened after the handshake", async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  assert.equal(socket.secureTransport, 'on')
  const info = await socket.opened
  assert.equal(info.remoteAddress, `127.0.0.1:${srv.port}`)
  assert.equal(info.alpn, null)
  const writer = socket.writable.getWriter()
  await writer.write('over tls')
  const reader = socket.readable.getReader()
  assert.equal((await readExactly(reader, 8)).toString(), 'over tls')
  reader.releaseLock()
  writer.releaseLock()
  await socket.close()
  assert.deepEqual(srv.servernames, ['localhost'])
})

test('an IP literal is verified against IP subject-alt-names and sends no SNI', async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  for (const host of ['127.0.0.1']) {
    const socket = connect(`${host}:${srv.port}`, { secureTransport: 'on', ca: C.ca })
    await socket.opened
    await socket.close()
  }
  assert.deepEqual(srv.servernames, [false])
})

test('IPv6 literal over TLS verifies against the ::1 subject-alt-name', async (t) => {
  const srv = await tlsServer(C.server, (s) => s.pipe(s), '::1')
  t.after(() => srv.close())
  const socket = connect(`[::1]:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  const info = await socket.opened
  assert.equal(info.remoteAddress, `[::1]:${srv.port}`)
  await socket.close()
})

test('servername / sni choose the name sent in SNI and verified', async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  const a = connect(`127.0.0.1:${srv.port}`, { secureTransport: 'on', ca: C.ca, servername: 'localhost' })
  await a.opened
  await a.close()
  const b = connect(`127.0.0.1:${srv.port}`, { secureTransport: 'on', ca: C.ca, sni: 'localhost' })
  await b.opened
  await b.close()
  assert.deepEqual(srv.servernames, ['localhost', 'localhost'])
  const c = connect(`127.0.0.1:${srv.port}`, { secureTransport: 'on', ca: C.ca, servername: 'other.example' })
  const err = await c.opened.then(() => null, (e) => e)
  assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
})

const failures = [
  ['an expired certificate', C.expired, 'CERT_HAS_EXPIRED'],
  ['a certificate for another name', C.wrongName, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['a self-signed certificate', C.selfSigned, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  ['a chain ending in an untrusted self-signed root', C.untrustedChain, 'SELF_SIGNED_CERT_IN_CHAIN'],
  ['a leaf from an unknown issuer', C.unknownIssuer, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']
]

for (const [what, serverCert, code] of failures) {
  test(`${what} fails with ${code}, the code node:tls reports`, async (t) => {
    const srv = await tlsServer(serverCert, (s) => s.end('must not be read'))
    t.after(() => srv.close())
    const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
    const err = await socket.opened.then(() => null, (e) => e)
    assert.ok(err instanceof SocketError, String(err))
    assert.equal(err.code, code)
    assert.match(err.message, /^SocketError: /)
    assert.equal(await nodeTlsCode(srv.port, { ca: C.ca }), code)
    await assert.rejects(socket.closed, (e) => e === err)
    await assert.rejects(socket.readable.getReader().read(), (e) => e === err)
  })
}

test('the system roots are the default: a private CA is not trusted without ca', async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on' })
  const err = await socket.opened.then(() => null, (e) => e)
  assert.equal(err.code, await nodeTlsCode(srv.port, {}))
  assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
})

test('ca replaces the roots and takes arrays, Buffers and bundles', async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  for (const ca of [[C.otherCa, C.ca], Buffer.from(C.ca), C.otherCa + C.ca, [Buffer.from(C.ca)]]) {
    const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca })
    await socket.opened
    await socket.close()
  }
  const wrong = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.otherCa })
  assert.equal((await wrong.opened.catch((e) => e)).code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
})

test('invalid ca material is a sync SocketError', () => {
  assert.throws(() => connect('localhost:1', { secureTransport: 'on', ca: 'not a pem' }),
    (e) => e instanceof SocketError && e.code === 'ERR_TLS_INVALID_CA')
})

test('rejectUnauthorized: false accepts an unverifiable certificate', async (t) => {
  const srv = await tlsServer(C.selfSigned)
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', rejectUnauthorized: false })
  await socket.opened
  const w = socket.writable.getWriter()
  await w.write('ok')
  assert.equal((await readExactly(socket.readable.getReader(), 2)).toString(), 'ok')
  await socket.close()
})

test('NODE_TLS_REJECT_UNAUTHORIZED=0 turns verification off with one warning', async (t) => {
  const srv = await tlsServer(C.selfSigned, (s) => s.end('insecure'))
  t.after(() => srv.close())
  const r = await runScript(`
    const { connect } = require('sockets-api')
    ;(async () => {
      for (let i = 0; i < 2; i++) {
        const s = connect('localhost:${srv.port}', { secureTransport: 'on' })
        await s.opened
        const chunks = []
        for await (const c of s.readable) chunks.push(Buffer.from(c))
        console.log(Buffer.concat(chunks).toString())
      }
    })()
  `, { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'insecure\ninsecure')
  assert.equal(r.stderr.match(/NODE_TLS_REJECT_UNAUTHORIZED/g).length, 1, r.stderr)
})

test('NODE_EXTRA_CA_CERTS adds roots', async (t) => {
  const srv = await tlsServer(C.server, (s) => s.end('trusted'))
  t.after(() => srv.close())
  const file = tempFile('extra-ca.pem', C.ca)
  const script = `
    const { connect } = require('sockets-api')
    const s = connect('localhost:${srv.port}', { secureTransport: 'on' })
    s.opened.then(async () => {
      const chunks = []
      for await (const c of s.readable) chunks.push(Buffer.from(c))
      console.log(Buffer.concat(chunks).toString())
    }, (e) => { console.log(e.code); process.exitCode = 2 })
  `
  const withExtra = await runScript(script, { env: { NODE_EXTRA_CA_CERTS: file } })
  assert.equal(withExtra.code, 0, withExtra.stdout + withExtra.stderr)
  assert.equal(withExtra.stdout.trim(), 'trusted')
  const without = await runScript(script, { env: { NODE_EXTRA_CA_CERTS: '' } })
  assert.equal(without.code, 2)
  assert.equal(without.stdout.trim(), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
})

test('ALPN: the negotiated protocol is opened.alpn; none offered gives null', async (t) => {
  const srv = await tlsServer({ ...C.server, ALPNProtocols: ['h2', 'postgresql'] })
  t.after(() => srv.close())
  const a = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, alpn: ['postgresql'] })
  assert.equal((await a.opened).alpn, 'postgresql')
  await a.close()
  const b = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, ALPNProtocols: ['x-unknown', 'h2'] })
  assert.equal((await b.opened).alpn, 'h2')
  await b.close()
  const c = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  assert.equal((await c.opened).alpn, null)
  await c.close()
  assert.deepEqual(srv.protocols, ['postgresql', 'h2', false])
})

test('mutual TLS: a client certificate the server requires', async (t) => {
  const srv = await tlsServer({ ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca },
    (s) => s.end(`hello ${s.getPeerCertificate().subject.CN}`))
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, cert: C.client.cert, key: C.client.key })
  await socket.opened
  assert.equal((await readAll(socket.readable)).toString(), 'hello test client')
  await socket.closed
})

test('mutual TLS: without the client certificate the connection fails with a clear error', async (t) => {
  const srv = await tlsServer({ ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca },
    (s) => s.end('must not be read'))
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  // With TLS 1.3 the server checks the client after the client's handshake
  // ends, so the failure may come with opened or with the first read.
  const err = await socket.opened.then(() => readAll(socket.readable)).then(() => null, (e) => e)
  assert.ok(err instanceof SocketError, String(err))
  // Node reports ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED (or, for TLS 1.2,
  // a handshake failure alert): the server's alert, named as Node names it.
  assert.match(err.code, /^ERR_SSL_.*(CERTIFICATE|HANDSHAKE)/, err.code)
  await assert.rejects(socket.closed, SocketError)
})

test('client identity from an encrypted key with passphrase, and from pfx', async (t) => {
  const srv = await tlsServer({ ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca },
    (s) => s.end(`hello ${s.getPeerCertificate().subject.CN}`))
  t.after(() => srv.close())
  const encrypted = crypto.createPrivateKey(C.client.key).export({
    type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'sesame'
  })
  const a = connect(`localhost:${srv.port}`, {
    secureTransport: 'on', ca: C.ca, cert: C.client.cert, key: encrypted, passphrase: 'sesame'
  })
  assert.equal((await readAll(a.readable)).toString(), 'hello test client')
  const p12 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(C.client.key),
    [forge.pki.certificateFromPem(C.client.cert)], 'pfxpass', { algorithm: '3des' })
  const pfx = Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary')
  const b = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, pfx, passphrase: 'pfxpass' })
  assert.equal((await readAll(b.readable)).toString(), 'hello test client')
  assert.throws(() => connect(`localhost:${srv.port}`, {
    secureTransport: 'on', ca: C.ca, cert: C.client.cert, key: encrypted
  }), (e) => e instanceof SocketError && /passphrase/.test(e.message))
})

test('a TLS socket never falls back to plain text', async (t) => {
  const srv = await listen((sock) => sock.end('HTTP/1.0 200 OK\r\n\r\nplaintext'))
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  const err = await socket.opened.then(() => null, (e) => e)
  assert.ok(err instanceof SocketError, String(err))
  assert.equal(err.code, 'ERR_SSL_WRONG_VERSION_NUMBER') // as node:tls says
  await assert.rejects(socket.readable.getReader().read(), SocketError)
})

test('connectTimeout covers the TLS handshake', async (t) => {
  const srv = await listen(() => {}) // accepts, never answers the ClientHello
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, connectTimeout: 200 })
  const err = await within(socket.opened.then(() => null, (e) => e), 5000, 'handshake timeout')
  assert.equal(err.code, 'ETIMEDOUT')
})

test('12 MiB echoed through TLS arrive intact (checksum), default and BYOB readers', async (t) => {
  const srv = await tlsServer(C.server)
  t.after(() => srv.close())
  for (const mode of ['default', 'byob']) {
    const payload = crypto.randomBytes(12 << 20)
    const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
    const { total, digest } = await echoThrough(socket, payload, mode, { maxWrite: 100000 })
    assert.equal(total, payload.length)
    assert.equal(digest, sha256(payload))
    await within(socket.closed, 5000, 'closed')
  }
})

test('opened reports the TLS version and the server certificate (as node:tls getProtocol / getPeerX509Certificate)', async (t) => {
  for (const version of ['TLSv1.2', 'TLSv1.3']) {
    const srv = await tlsServer({ ...C.server, minVersion: version, maxVersion: version })
    t.after(() => srv.close())
    const socket = connect({ hostname: 'localhost', port: srv.port }, { secureTransport: 'on', ca: C.ca })
    const info = await socket.opened
    assert.equal(info.tlsProtocol, version)
    assert.ok(info.peerCertificate instanceof crypto.X509Certificate)
    assert.equal(info.peerCertificate.fingerprint256, new crypto.X509Certificate(C.server.cert).fingerprint256)
    await socket.close()
  }
  // Plain sockets have neither key.
  const plain = await listen(() => {})
  t.after(() => plain.close())
  const s = connect(`127.0.0.1:${plain.port}`)
  const info = await s.opened
  assert.equal('tlsProtocol' in info, false)
  assert.equal('peerCertificate' in info, false)
  await s.close()
})
