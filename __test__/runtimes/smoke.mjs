// The same checks under any runtime that runs this package's native entry
// (Node, Bun, Deno): connect by IP and by name, an echo with a checksum, writes
// before open, the peer's FIN, close(), TLS with a CA made now, startTls(),
// SocketError codes for a refusal and a bad certificate. Prints "ok" and
// exits 0, or throws.
//   node __test__/runtimes/smoke.mjs      bun __test__/runtimes/smoke.mjs
//   deno run --allow-ffi --allow-net --allow-read --allow-env __test__/runtimes/smoke.mjs

import net from 'node:net'
import tls from 'node:tls'
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import assert from 'node:assert/strict'
import { connect, SocketError } from '../../index.mjs'

const require = createRequire(import.meta.url)
const { certs } = require('../certs.js')
const C = certs()

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

async function echoThrough (socket, payload) {
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  const sending = (async () => {
    for (let i = 0; i < payload.length; i += 65536) await writer.write(payload.subarray(i, i + 65536))
  })()
  const parts = []
  let got = 0
  while (got < payload.length) {
    const { value, done } = await reader.read()
    if (done) break
    parts.push(value)
    got += value.byteLength
  }
  await sending
  writer.releaseLock()
  reader.releaseLock()
  return Buffer.concat(parts)
}

const plain = net.createServer((s) => { s.on('error', () => {}); s.pipe(s) })
const plainPort = await listen(plain)
const secure = tls.createServer(C.server, (s) => { s.on('error', () => {}); s.pipe(s) })
secure.on('tlsClientError', () => {})
const securePort = await listen(secure)
const wrong = tls.createServer(C.wrongName, (s) => s.end())
wrong.on('tlsClientError', () => {})
const wrongPort = await listen(wrong)
const starttls = net.createServer((s) => {
  s.on('error', () => {})
  s.once('data', () => {
    s.write('go\n')
    const t = new tls.TLSSocket(s, { isServer: true, ...C.server })
    t.on('error', () => {})
    t.pipe(t)
  })
})
const starttlsPort = await listen(starttls)

const payload = crypto.randomBytes(3 * 1024 * 1024 + 17)
for (const address of [`127.0.0.1:${plainPort}`, `localhost:${plainPort}`, { hostname: '127.0.0.1', port: plainPort }]) {
  const socket = connect(address)
  assert.equal(sha(await echoThrough(socket, payload)), sha(payload))
  await socket.close()
}

// Writes before open, then the peer's FIN ends the readable.
{
  const finisher = net.createServer((s) => { s.on('error', () => {}); s.once('data', (d) => s.end(d)) })
  const port = await listen(finisher)
  const socket = connect(`127.0.0.1:${port}`)
  const writer = socket.writable.getWriter()
  writer.write('early')
  const reader = socket.readable.getReader()
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += new TextDecoder().decode(value)
  }
  assert.equal(text, 'early')
  await socket.closed
  finisher.close()
}

// TLS with a CA made now, and STARTTLS.
{
  const socket = connect(`localhost:${securePort}`, { secureTransport: 'on', ca: C.ca })
  assert.equal(sha(await echoThrough(socket, payload)), sha(payload))
  await socket.close()
  const st = connect(`localhost:${starttlsPort}`, { secureTransport: 'starttls', ca: C.ca })
  const w = st.writable.getWriter()
  await w.write('STARTTLS\n')
  const r = st.readable.getReader()
  await r.read()
  w.releaseLock()
  r.releaseLock()
  const upgraded = st.startTls()
  assert.equal(sha(await echoThrough(upgraded, payload.subarray(0, 100000))), sha(payload.subarray(0, 100000)))
  await upgraded.close()
}

// Errors with Node's codes.
{
  const closed = net.createServer()
  const port = await listen(closed)
  await new Promise((resolve) => closed.close(resolve))
  const refused = await connect(`127.0.0.1:${port}`).opened.catch((e) => e)
  assert.ok(refused instanceof SocketError)
  assert.equal(refused.code, 'ECONNREFUSED')
  const bad = await connect(`localhost:${wrongPort}`, { secureTransport: 'on', ca: C.ca }).opened.catch((e) => e)
  assert.ok(bad instanceof SocketError)
  assert.equal(bad.code, 'ERR_TLS_CERT_ALTNAME_INVALID')
  assert.throws(() => connect('no-port'), SocketError)
}

plain.close()
secure.close()
wrong.close()
starttls.close()
console.log('ok')
