'use strict'

// TLS session resumption: a reconnection to the same server with the same
// options resumes its session (TLS 1.3 tickets, TLS 1.2 session IDs), as
// node:tls's https.Agent does; never across names, trust settings or
// servers; never when turned off. Against node:tls servers, which say on
// their side whether the session was reused.

const test = require('node:test')
const assert = require('node:assert/strict')
const tls = require('node:tls')
const { connect, SocketError } = require('sockets-api')
const { certs } = require('./certs')

const C = certs()

/** A node:tls echo server recording, per connection, whether it resumed. */
async function server (options = {}) {
  const reused = []
  const srv = tls.createServer({ ...C.server, ...options }, (s) => {
    reused.push(s.isSessionReused())
    s.on('error', () => {})
    s.pipe(s)
  })
  srv.on('tlsClientError', () => {})
  const port = await new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv.address().port)))
  return { port, reused, close: () => new Promise((resolve) => srv.close(resolve)) }
}

/** Connects, exchanges one message (which also takes the server's tickets), closes. */
async function roundTrip (address, options) {
  const s = connect(address, { secureTransport: 'on', ca: C.ca, ...options })
  const info = await s.opened
  const w = s.writable.getWriter()
  await w.write(new TextEncoder().encode('ping'))
  const r = s.readable.getReader()
  const { value } = await r.read()
  assert.equal(new TextDecoder().decode(value), 'ping')
  await s.close()
  return info
}

for (const version of ['TLSv1.3', 'TLSv1.2']) {
  test(`${version}: the second connection resumes the first's session, and the server agrees`, async (t) => {
    const srv = await server({ minVersion: version, maxVersion: version })
    t.after(srv.close)
    const at = `localhost:${srv.port}`
    const first = await roundTrip(at)
    const second = await roundTrip(at)
    const third = await roundTrip(at)
    assert.equal(first.tlsProtocol, version)
    assert.deepEqual([first.sessionReused, second.sessionReused, third.sessionReused], [false, true, true])
    assert.deepEqual(srv.reused, [false, true, true])
    // A resumed session is still the server's: its certificate is there.
    assert.match(second.peerCertificate.subject, /CN=localhost/)
  })
}

test('sessionResumption: false makes every connection a full handshake', async (t) => {
  const srv = await server()
  t.after(srv.close)
  const at = `localhost:${srv.port}`
  await roundTrip(at)
  const off = await roundTrip(at, { sessionResumption: false })
  const offAgain = await roundTrip(at, { sessionResumption: false })
  assert.deepEqual([off.sessionReused, offAgain.sessionReused], [false, false])
  assert.deepEqual(srv.reused, [false, false, false])
  assert.throws(() => connect(at, { secureTransport: 'on', sessionResumption: 'yes' }),
    (e) => e instanceof SocketError && e.code === 'ERR_INVALID_ARG_TYPE')
})

test('a session is never resumed under other trust settings, another name or at another server', async (t) => {
  const srv = await server()
  t.after(srv.close)
  const other = await server()
  t.after(other.close)
  await roundTrip(`localhost:${srv.port}`)
  // Other roots (one more CA): another configuration, a full handshake.
  const moreRoots = await roundTrip(`localhost:${srv.port}`, { ca: [C.ca, C.otherCa] })
  assert.equal(moreRoots.sessionReused, false)
  // Verification off is its own configuration too.
  const unverified = await roundTrip(`localhost:${srv.port}`, { rejectUnauthorized: false })
  assert.equal(unverified.sessionReused, false)
  // The same server under another name: no session, and the name is checked.
  const byIp = await roundTrip(`127.0.0.1:${srv.port}`)
  assert.equal(byIp.sessionReused, false)
  const wrong = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca, expectedServerHostname: 'wrong.example' })
  await assert.rejects(wrong.opened, (e) => e.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
  // Another server (another port): no session of the first one's.
  const elsewhere = await roundTrip(`localhost:${other.port}`)
  assert.equal(elsewhere.sessionReused, false)
  assert.deepEqual(other.reused, [false])
})

test('a resumed connection fails as a full one would when the server no longer takes the session', async (t) => {
  // Each server has its own ticket keys: a ticket from the first means
  // nothing to the second, which does a full handshake (and verification).
  const first = await server()
  const port = first.port
  await roundTrip(`localhost:${port}`)
  await first.close()
  const second = tls.createServer(C.server, (s) => { s.on('error', () => {}); s.pipe(s) })
  second.on('tlsClientError', () => {})
  await new Promise((resolve) => second.listen(port, '127.0.0.1', resolve))
  t.after(() => second.close())
  const info = await roundTrip(`localhost:${port}`)
  assert.equal(info.sessionReused, false)
})
