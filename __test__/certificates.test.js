'use strict'

// Every kind of certificate failure, with certificates made now, against
// node:tls on the same server: the same code (and for a name mismatch the
// same explanation) from this package.

const test = require('node:test')
const assert = require('node:assert/strict')
const tls = require('node:tls')
const forge = require('node-forge')
const { connect, SocketError } = require('sockets-api')
const { certs, issue } = require('./certs')
const { listenTls } = require('./helpers')

const C = certs()
const DAY = 24 * 60 * 60 * 1000
const LOCAL = { dns: ['localhost'], ip: ['127.0.0.1'] }
const issuer = { cert: forge.pki.certificateFromPem(C.ca), key: forge.pki.privateKeyFromPem(C.caKey) }
const pair = (c) => ({ cert: c.certPem, key: c.keyPem })

/** A CA certificate (keyCertSign only) presented as a server's. */
function caOnly () {
  const c = issue({ cn: 'localhost', san: LOCAL, issuer, ca: true })
  const cert = forge.pki.certificateFromPem(c.certPem)
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }
  ])
  cert.sign(issuer.key, forge.md.sha256.create())
  return { cert: forge.pki.certificateToPem(cert), key: c.keyPem }
}

const CASES = [
  ['an expired certificate', C.expired, 'CERT_HAS_EXPIRED'],
  ['a certificate not yet valid', pair(issue({ cn: 'localhost', san: LOCAL, issuer, from: 10 * DAY, to: 20 * DAY })), 'CERT_NOT_YET_VALID'],
  ['a self-signed certificate', C.selfSigned, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  ['a chain to an untrusted root', C.untrustedChain, 'SELF_SIGNED_CERT_IN_CHAIN'],
  ['a leaf from an unknown issuer', C.unknownIssuer, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ['a certificate for client authentication only', pair(issue({ cn: 'localhost', san: LOCAL, issuer, usage: 'client' })), 'INVALID_PURPOSE'],
  ['a CA certificate as the server certificate', caOnly(), 'INVALID_PURPOSE'],
  ['a certificate for another name', C.wrongName, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['a certificate with only a common name', pair(issue({ cn: 'elsewhere.example', issuer })), 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ['a valid certificate', C.server, null]
]

function viaNode (port, host, servername) {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: '127.0.0.1', ca: C.ca, servername: servername ?? (host === '127.0.0.1' ? undefined : host) })
    s.on('secureConnect', () => { s.destroy(); resolve(null) })
    s.on('error', (e) => resolve(e))
  })
}

async function viaUs (port, host) {
  const socket = connect(`${host}:${port}`, { secureTransport: 'on', ca: C.ca })
  return socket.opened.then(() => { socket.close(); return null }, (e) => e)
}

for (const [what, serverCert, expected] of CASES) {
  for (const host of ['localhost', '127.0.0.1']) {
    test(`${what}, to ${host}: the outcome node:tls reports`, async (t) => {
      const srv = await listenTls(serverCert, (s) => s.end())
      t.after(() => srv.close())
      const node = await viaNode(srv.port, host)
      const ours = await viaUs(srv.port, host)
      assert.equal(ours && ours.code, node && node.code, `ours: ${ours}, node:tls: ${node}`)
      if (host === 'localhost' && expected !== undefined) assert.equal(ours && ours.code, expected)
      if (ours) {
        assert.ok(ours instanceof SocketError)
        if (ours.code === 'ERR_TLS_CERT_ALTNAME_INVALID') assert.equal(ours.message, `SocketError: ${node.message}`)
      }
    })
  }
}

test('mutual TLS over TLS 1.2 without a client certificate: the alert code node:tls reports', async (t) => {
  const srv = await listenTls({ ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca, maxVersion: 'TLSv1.2' },
    (s) => s.end())
  t.after(() => srv.close())
  const node = await viaNode(srv.port, 'localhost')
  const ours = await viaUs(srv.port, 'localhost')
  assert.ok(node && ours, `ours: ${ours}, node:tls: ${node}`)
  assert.equal(ours.code, node.code)
  assert.match(ours.code, /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_HANDSHAKE_FAILURE$/)
})
