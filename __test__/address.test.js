'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { connect, SocketError } = require('sockets-api')
const { listen, listenUnix, echo, readExactly } = require('./helpers')

function assertSyncSocketError (fn, pattern) {
  let thrown
  try {
    fn()
  } catch (e) {
    thrown = e
  }
  assert.ok(thrown, 'connect() should throw synchronously')
  assert.ok(thrown instanceof SocketError, `expected a SocketError, got ${thrown && thrown.constructor.name}`)
  assert.ok(thrown instanceof TypeError)
  assert.equal(thrown.name, 'TypeError')
  assert.match(thrown.message, /^SocketError: /)
  if (pattern) assert.match(thrown.message, pattern)
}

async function roundTrip (address) {
  const socket = connect(address)
  const writer = socket.writable.getWriter()
  await writer.write('ping')
  const reader = socket.readable.getReader()
  const got = await readExactly(reader, 4)
  assert.equal(got.toString(), 'ping')
  reader.releaseLock()
  writer.releaseLock()
  await socket.close()
  return socket
}

test('a string address without a port is a sync SocketError', () => {
  assertSyncSocketError(() => connect('example.com'), /port is required/)
  assertSyncSocketError(() => connect('example.com:'), /port is empty/)
  assertSyncSocketError(() => connect('[::1]'), /port is required/)
  assertSyncSocketError(() => connect('[::1]:'), /port is empty/)
})

test('an unbracketed IPv6 literal in a string is a sync SocketError', () => {
  assertSyncSocketError(() => connect('::1:5432'), /bracketed/)
})

test('ports outside 1..65535, fractions, NaN and non-numbers are sync SocketErrors', () => {
  for (const port of ['0', '65536', '-1', '1.5', 'abc', '+80', ' 80']) {
    assertSyncSocketError(() => connect(`localhost:${port}`), /port/)
  }
  for (const port of [0, 65536, -1, 1.5, NaN, Infinity, -Infinity]) {
    assertSyncSocketError(() => connect({ hostname: 'localhost', port }), /port/)
  }
  for (const port of [' 80', '0x50', '8e1', '', null, undefined, {}, 80n]) {
    assertSyncSocketError(() => connect({ hostname: 'localhost', port }), /port must be a number/)
  }
})

test('bad hostnames are sync SocketErrors', () => {
  for (const hostname of ['', 'a b', 'a\tb', 'a\nb', 'a\u0000b', 'x'.repeat(256), 'a..b', 'user@host', '[::1', '::zz']) {
    assertSyncSocketError(() => connect({ hostname, port: 80 }))
  }
  assertSyncSocketError(() => connect(' localhost:80'))
  assertSyncSocketError(() => connect('local host:80'))
  assertSyncSocketError(() => connect({ hostname: 42, port: 80 }), /hostname must be a string/)
})

test('addresses of the wrong type are sync SocketErrors', () => {
  for (const address of [undefined, null, 42, true, Symbol('x'), () => {}]) {
    assertSyncSocketError(() => connect(address))
  }
  assertSyncSocketError(() => connect({ path: 42 }), /path must be a string/)
  assertSyncSocketError(() => connect({ path: '' }), /empty/)
  assertSyncSocketError(() => connect('unix:'), /empty/)
})

test('host:port with an IPv4 literal connects', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  await roundTrip(`127.0.0.1:${srv.port}`)
})

test('a bracketed IPv6 literal connects, and opened reports [ipv6]:port', async (t) => {
  const srv = await listen(echo, '::1')
  t.after(() => srv.close())
  const socket = connect(`[::1]:${srv.port}`)
  const info = await socket.opened
  assert.equal(info.remoteAddress, `[::1]:${srv.port}`)
  assert.match(info.localAddress, /^\[::1\]:\d+$/)
  await socket.close()
})

test('{ hostname, port } takes a bare or a bracketed IPv6 literal', async (t) => {
  const srv = await listen(echo, '::1')
  t.after(() => srv.close())
  await roundTrip({ hostname: '::1', port: srv.port })
  await roundTrip({ hostname: '[::1]', port: srv.port })
})

test('a host name is resolved before connecting', async (t) => {
  // Where "localhost" also resolves to ::1 (listed first), this passes only
  // if 127.0.0.1 is tried after the IPv6 refusal; cargo test covers the
  // fallback itself on every machine.
  const srv = await listen(echo, '127.0.0.1')
  t.after(() => srv.close())
  await roundTrip(`localhost:${srv.port}`)
  await roundTrip({ hostname: 'localhost', port: srv.port })
})

test('{ path } and unix:/path connect to a Unix domain socket', async (t) => {
  const srv = await listenUnix(echo)
  t.after(() => srv.close())
  const socket = connect({ path: srv.path })
  // remoteAddress is the path; an unnamed client socket has no local address.
  assert.deepEqual(await socket.opened, { remoteAddress: srv.path, alpn: null })
  await socket.close()
  await roundTrip({ path: srv.path })
  await roundTrip(`unix:${srv.path}`)
})

test('a name that does not resolve rejects opened and closed with ENOTFOUND', async () => {
  const socket = connect('no-such-host.invalid:80')
  const err = await socket.opened.then(() => null, (e) => e)
  assert.ok(err instanceof SocketError)
  assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(err.code), err.code)
  assert.equal(err.syscall, 'getaddrinfo')
  assert.equal(err.message, `SocketError: getaddrinfo ${err.code} no-such-host.invalid`)
  await assert.rejects(socket.closed, (e) => e === err)
})
