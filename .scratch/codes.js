const tls = require('node:tls')
const { connect } = require('/work/main')
const { certs, issue } = require('/work/main/__test__/certs')
const C = certs()
const ca = { certPem: C.ca }
async function server (opts) {
  return new Promise((res) => { const s = tls.createServer(opts, (x) => x.end('x')); s.on('tlsClientError', () => {}); s.listen(0, '127.0.0.1', () => res(s)) })
}
function nodeErr (port, o) { return new Promise((res) => { const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: C.ca, ...o }); s.on('secureConnect', () => { s.on('data', () => {}); s.on('error', (e) => res(e.code + ' | ' + e.message)); s.on('end', () => res('ok')) }); s.on('error', (e) => res(e.code + ' | ' + e.message)) }) }
async function ours (port, o, host = 'localhost') { const s = connect(`${host}:${port}`, { secureTransport: 'on', ca: C.ca, ...o }); try { await s.opened; const r = s.readable.getReader(); for (;;) { const { done } = await r.read(); if (done) return 'ok' } } catch (e) { return e.code + ' | ' + e.message } }
;(async () => {
  // CA keys for issuing
  const forge = require('node-forge')
  const caCert = forge.pki.certificateFromPem(C.ca)
  const caKey = forge.pki.privateKeyFromPem(C.caKey)
  const issuer = { cert: caCert, key: caKey }
  const LOCAL = { dns: ['localhost'], ip: ['127.0.0.1'] }
  const clientOnly = issue({ cn: 'localhost', san: LOCAL, issuer, usage: 'client' })
  const caAsServer = issue({ cn: 'localhost', san: LOCAL, issuer, ca: true })
  const future = issue({ cn: 'localhost', san: LOCAL, issuer, from: 100 * 86400000, to: 200 * 86400000 })
  const cases = {
    clientOnly: { cert: clientOnly.certPem, key: clientOnly.keyPem },
    caAsServer: { cert: caAsServer.certPem, key: caAsServer.keyPem },
    future: { cert: future.certPem, key: future.keyPem },
    wrongName: C.wrongName,
    mtls12: { ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca, maxVersion: 'TLSv1.2' },
    mtls13: { ...C.server, requestCert: true, rejectUnauthorized: true, ca: C.ca },
  }
  for (const [name, o] of Object.entries(cases)) {
    const s = await server(o); const port = s.address().port
    console.log(name, '\n  node:', await nodeErr(port, {}), '\n  ours:', await ours(port, {}))
    if (name === 'wrongName') console.log('  ip node:', await nodeErr(port, { servername: undefined, host: '127.0.0.1' }), '\n  ip ours:', await ours(port, {}, '127.0.0.1'))
    s.close()
  }
})()
