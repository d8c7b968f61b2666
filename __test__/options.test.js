'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { connect, SocketError } = require('sockets-api')
const { listen, echo, nextConnection } = require('./helpers')

function assertSyncSocketError (fn, pattern) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof SocketError, `expected a SocketError, got ${e && e.constructor.name}: ${e && e.message}`)
    assert.ok(e instanceof TypeError)
    assert.match(e.message, /^SocketError: /)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

test('options of the wrong type are sync SocketErrors', () => {
  const addr = '127.0.0.1:9'
  assertSyncSocketError(() => connect(addr, 'tls'), /options must be an object/)
  assertSyncSocketError(() => connect(addr, 42), /options must be an object/)
  assertSyncSocketError(() => connect(addr, { secureTransport: 'yes' }), /secureTransport/)
  assertSyncSocketError(() => connect(addr, { secureTransport: true }), /secureTransport/)
  assertSyncSocketError(() => connect(addr, { keepAlive: 'on' }), /keepAlive/)
  assertSyncSocketError(() => connect(addr, { keepAlive: -5 }), /keepAlive/)
  assertSyncSocketError(() => connect(addr, { highWaterMark: -1 }), /highWaterMark/)
  assertSyncSocketError(() => connect(addr, { highWaterMark: '1k' }), /highWaterMark/)
  assertSyncSocketError(() => connect(addr, { connectTimeout: '5s' }), /connectTimeout/)
  assertSyncSocketError(() => connect(addr, { connectTimeout: NaN }), /connectTimeout/)
  assertSyncSocketError(() => connect(addr, { signal: {} }), /signal/)
  assertSyncSocketError(() => connect(addr, { secureTransport: 'on', ca: 42 }), /ca/)
  assertSyncSocketError(() => connect(addr, { secureTransport: 'on', rejectUnauthorized: 'no' }), /rejectUnauthorized/)
  assertSyncSocketError(() => connect(addr, { secureTransport: 'on', alpn: 7 }), /alpn/)
})

test('unknown option keys are ignored, as are TLS options of a plain socket', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, {
    someFutureOption: true,
    socket: {},
    ca: 'not a certificate',
    rejectUnauthorized: false
  })
  await socket.opened
  await socket.close()
})

test('noDelay accepts booleans (its effect on the socket is checked by cargo test)', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  for (const noDelay of [undefined, true, false]) {
    const socket = connect(`127.0.0.1:${srv.port}`, noDelay === undefined ? {} : { noDelay })
    await socket.opened
    await socket.close()
  }
})

test('keepAlive accepts true or an initial delay in ms', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  for (const keepAlive of [true, false, 1000, 0]) {
    const accepted = nextConnection(srv)
    const socket = connect(`127.0.0.1:${srv.port}`, { keepAlive })
    await socket.opened
    await accepted
    await socket.close()
  }
})

test('startTls on a plain or a TLS socket is a sync SocketError', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  assert.throws(() => socket.startTls(), (e) => e instanceof SocketError &&
    e.message === "SocketError: secureTransport must be set to 'starttls'")
  await socket.close()
})

test('options convert as WebIDL converts them (as workerd does): 1 is true, "16" is 16, a port of digits connects', async (t) => {
  const srv = await listen((sock) => { sock.on('error', () => {}); sock.end('bye') })
  t.after(() => srv.close())
  // port: env.DB_PORT — Workers' environment variables are strings.
  const socket = connect({ hostname: '127.0.0.1', port: String(srv.port) }, { allowHalfOpen: 1, highWaterMark: '16', noDelay: 0 })
  const writer = socket.writable.getWriter()
  assert.equal(writer.desiredSize, 16)
  await socket.opened
  const reader = socket.readable.getReader()
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString()
  }
  assert.equal(text, 'bye')
  // allowHalfOpen: 1 is true: after the peer's FIN our side still writes.
  await writer.write('still open')
  await socket.close()
  assert.throws(() => connect('127.0.0.1:9', { highWaterMark: '1k' }), /highWaterMark/)
})
