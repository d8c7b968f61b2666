'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { connect, Socket, SocketError } = require('sockets-api')
const {
  listen, echo, closedPort, readAll, readExactly, collect, nextConnection, within, isPending,
  unresponsiveListener
} = require('./helpers')

test('connect() returns a pending Socket at once; opened resolves with SocketInfo', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  assert.ok(socket instanceof Socket)
  assert.ok(await isPending(socket.opened, 0))
  const info = await socket.opened
  assert.deepEqual(Object.keys(info).sort(), ['alpn', 'localAddress', 'remoteAddress'])
  assert.equal(info.remoteAddress, `127.0.0.1:${srv.port}`)
  assert.match(info.localAddress, /^127\.0\.0\.1:\d+$/)
  assert.equal(info.alpn, null)
  await socket.close()
})

test('attributes have stable identity', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  assert.equal(socket.readable, socket.readable)
  assert.equal(socket.writable, socket.writable)
  assert.equal(socket.opened, socket.opened)
  assert.equal(socket.closed, socket.closed)
  assert.ok(socket.readable instanceof ReadableStream)
  assert.ok(socket.writable instanceof WritableStream)
  await socket.close()
})

test('upgraded and secureTransport attributes', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const plain = connect(`127.0.0.1:${srv.port}`)
  assert.equal(plain.upgraded, false)
  assert.equal(plain.secureTransport, 'off')
  const starttls = connect(`127.0.0.1:${srv.port}`, { secureTransport: 'starttls' })
  assert.equal(starttls.secureTransport, 'starttls')
  assert.equal(starttls.upgraded, false)
  await Promise.all([plain.close(), starttls.close()])
})

test('Socket cannot be constructed directly', () => {
  assert.throws(() => new Socket(), TypeError)
})

test('a refused connection rejects opened and closed with the same SocketError', async () => {
  const port = await closedPort()
  const socket = connect(`127.0.0.1:${port}`)
  const err = await socket.opened.then(() => null, (e) => e)
  assert.ok(err instanceof SocketError)
  assert.ok(err instanceof TypeError)
  assert.equal(err.name, 'TypeError')
  assert.equal(err.message, `SocketError: connect ECONNREFUSED 127.0.0.1:${port}`)
  assert.equal(err.code, 'ECONNREFUSED')
  assert.equal(err.syscall, 'connect')
  assert.equal(err.address, '127.0.0.1')
  assert.equal(err.port, port)
  for (const key of ['code', 'syscall', 'address', 'port']) {
    assert.equal(Object.getOwnPropertyDescriptor(err, key).enumerable, false, key)
  }
  assert.deepEqual(Object.keys(err), [])
  const closedErr = await socket.closed.then(() => null, (e) => e)
  assert.equal(closedErr, err)
  // The streams error with it too.
  await assert.rejects(socket.readable.getReader().read(), (e) => e === err)
  await assert.rejects(socket.writable.getWriter().write('x'), (e) => e === err)
})

test('close() returns closed, is idempotent, and resolves after a graceful FIN', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const peer = await accepted
  const ended = collect(peer)
  const p1 = socket.close()
  const p2 = socket.close()
  assert.equal(p1, socket.closed)
  assert.equal(p2, socket.closed)
  await p1
  assert.equal((await ended).length, 0) // a normal end, no reset
})

test('close() flushes writes already accepted, even with the writer still locked', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const payload = Buffer.alloc(3 * 1024 * 1024, 7)
  writer.write('head:').catch(() => {})
  writer.write(payload).catch(() => {})
  writer.write(':tail').catch(() => {})
  const peer = await accepted
  const received = collect(peer)
  // (close() while still connecting aborts instead: see docs/api.md.)
  await socket.opened
  await socket.close()
  const got = await received
  assert.equal(got.length, 5 + payload.length + 5)
  assert.equal(got.subarray(0, 5).toString(), 'head:')
  assert.equal(got.subarray(-5).toString(), ':tail')
})

test('after close(), writes fail with a TypeError and reads do not hang', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  await socket.close()
  await assert.rejects(socket.writable.getWriter().write('late'), TypeError)
  // No read was waiting when close() was called: a later read rejects.
  const err = await within(socket.readable.getReader().read().then(() => null, (e) => e), 2000, 'read after close')
  assert.ok(err instanceof SocketError, String(err))
  assert.equal(err.code, 'ERR_SOCKET_CLOSED')
})

test('close() resolves reads that were pending with done', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader()
  const pending = reader.read()
  await socket.opened
  await socket.close()
  assert.deepEqual(await within(pending, 2000, 'pending read'), { value: undefined, done: true })
})

test('close() before open rejects opened with ERR_SOCKET_CLOSED', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.close()
  await assert.rejects(socket.opened, (e) => e instanceof SocketError && e.code === 'ERR_SOCKET_CLOSED')
})

test('writer.abort() drops what the writable queued and sends FIN', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`, { allowHalfOpen: true })
  const peer = await accepted
  const received = collect(peer)
  const writer = socket.writable.getWriter()
  await writer.write('sent')
  await writer.abort(new Error('never mind'))
  assert.equal((await within(received, 2000, 'FIN at the peer')).toString(), 'sent')
  await socket.close()
})

test('connectTimeout: 0 means no timeout', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, { connectTimeout: 0 })
  await socket.opened
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.ok(await isPending(socket.closed))
  await socket.close()
})

test('close() before the connection completes with nothing written cancels it: closed resolves, nothing is sent', async (t) => {
  let connections = 0
  const srv = await listen((sock) => {
    connections++
    sock.on('data', () => assert.fail('nothing should be sent'))
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.close()
  await assert.rejects(socket.opened, TypeError)
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.ok(connections <= 1)
})

test('close() before open keeps accepted writes: the connection completes, they are sent, then FIN', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const writes = [writer.write('first '), writer.write(new TextEncoder().encode('second'))]
  const closing = socket.close()
  const peer = await accepted
  assert.equal((await within(collect(peer), 2000, 'FIN at the peer')).toString(), 'first second')
  await within(Promise.all([...writes, closing]), 2000, 'writes and close()')
  assert.equal((await socket.opened).remoteAddress, `127.0.0.1:${srv.port}`)
})

test('close(reason) before open sends nothing, even what was written', async (t) => {
  let data = ''
  const srv = await listen((sock) => sock.on('data', (d) => { data += d }))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const write = socket.writable.getWriter().write('should not be sent')
  const reason = new Error('abandon')
  await socket.close(reason)
  await assert.rejects(write)
  await assert.rejects(socket.opened, (e) => e === reason)
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(data, '')
})

test('close() before open with writes accepted: a failed connection rejects closed and the writes', async (t) => {
  const port = await closedPort()
  const socket = connect(`127.0.0.1:${port}`)
  const write = socket.writable.getWriter().write('lost')
  const closing = socket.close()
  await assert.rejects(within(closing, 5000, 'close()'), (e) => e instanceof SocketError && e.code === 'ECONNREFUSED')
  await assert.rejects(write, (e) => e.code === 'ECONNREFUSED')
})

test('close(reason) rejects a pending opened with that reason and closed still resolves', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reason = new Error('changed my mind')
  await socket.close(reason)
  await assert.rejects(socket.opened, (e) => e === reason)
})

test('close(reason) on an open socket errors the streams with the reason', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const writer = socket.writable.getWriter()
  const reason = new Error('stop')
  await socket.close(reason)
  await assert.rejects(writer.write('x'), (e) => e === reason)
})

test('writer.close() sends FIN and the readable keeps receiving (half-close)', async (t) => {
  const srv = await listen((sock) => {
    const chunks = []
    sock.on('data', (c) => chunks.push(c))
    sock.on('end', () => sock.end(Buffer.concat(chunks).toString().toUpperCase()))
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  await writer.write('shout this')
  await writer.close()
  assert.equal((await readAll(socket.readable)).toString(), 'SHOUT THIS')
  await within(socket.closed, 2000, 'closed')
})

test('peer FIN ends the readable after the data before it; allowHalfOpen false closes our side too', async (t) => {
  const srv = await listen((sock) => {
    sock.end('last words')
  })
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const peer = await accepted
  const peerSaw = collect(peer)
  assert.equal((await readAll(socket.readable)).toString(), 'last words')
  await within(socket.closed, 2000, 'closed')
  await within(peerSaw, 2000, 'our FIN at the peer')
  await assert.rejects(socket.writable.getWriter().write('x'), TypeError)
})

test('allowHalfOpen: true keeps the writable usable after peer FIN; closed waits for our end', async (t) => {
  const srv = await listen((sock) => {
    sock.end('bye')
  })
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`, { allowHalfOpen: true })
  const peer = await accepted
  const peerSaw = collect(peer)
  assert.equal((await readAll(socket.readable)).toString(), 'bye')
  assert.ok(await isPending(socket.closed))
  const writer = socket.writable.getWriter()
  await writer.write('still here')
  await writer.close()
  await within(socket.closed, 2000, 'closed')
  assert.equal((await peerSaw).toString(), 'still here')
})

test('a peer reset rejects closed and pending reads with ECONNRESET', async (t) => {
  const srv = await listen((sock) => {
    sock.write('partial')
    setTimeout(() => sock.resetAndDestroy(), 20)
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader()
  const first = await reader.read()
  assert.equal(Buffer.from(first.value).toString(), 'partial')
  const err = await reader.read().then(() => null, (e) => e)
  assert.ok(err instanceof SocketError, String(err))
  assert.equal(err.code, 'ECONNRESET')
  assert.equal(err.message, 'SocketError: read ECONNRESET')
  await assert.rejects(socket.closed, (e) => e === err)
})

test('a reset while writing rejects the write and closed', async (t) => {
  const srv = await listen((sock) => {
    sock.pause() // never reads: our writes fill the buffers
    setTimeout(() => sock.resetAndDestroy(), 100)
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const chunk = Buffer.alloc(1024 * 1024)
  let err
  try {
    for (let i = 0; i < 1024; i++) {
      await writer.ready
      await writer.write(chunk)
    }
  } catch (e) {
    err = e
  }
  assert.ok(err instanceof SocketError, String(err))
  assert.ok(['ECONNRESET', 'EPIPE'].includes(err.code), err.code)
  await assert.rejects(socket.closed, SocketError)
})

test('failures nobody observes do not become unhandled rejections', async () => {
  const port = await closedPort()
  const unhandled = []
  const onUnhandled = (e) => unhandled.push(e)
  process.on('unhandledRejection', onUnhandled)
  try {
    connect(`127.0.0.1:${port}`)
    connect('no-such-host.invalid:80')
    const s = connect(`127.0.0.1:${port}`)
    s.readable.getReader()
    s.writable.getWriter()
    await new Promise((resolve) => setTimeout(resolve, 300))
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
  assert.deepEqual(unhandled, [])
})

test('an AbortSignal closes the socket with its reason', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const ac = new AbortController()
  const socket = connect(`127.0.0.1:${srv.port}`, { signal: ac.signal })
  await socket.opened
  ac.abort(new Error('aborted by test'))
  await within(socket.closed, 2000, 'closed after abort')
  const already = connect(`127.0.0.1:${srv.port}`, { signal: AbortSignal.abort(new Error('early')) })
  await assert.rejects(already.opened, /early/)
  await already.closed
})

for (const host of ['127.0.0.1', 'localhost']) {
  test(`connectTimeout fails a connection that does not complete with ETIMEDOUT (${host})`, async (t) => {
    const blackhole = await unresponsiveListener()
    t.after(() => blackhole.close())
    const started = Date.now()
    const socket = connect(`${host}:${blackhole.port}`, { connectTimeout: 200 })
    const err = await within(socket.opened.then(() => null, (e) => e), 5000, 'timeout')
    assert.ok(err instanceof SocketError, String(err))
    assert.equal(err.code, 'ETIMEDOUT')
    assert.equal(err.syscall, 'connect')
    assert.equal(err.message, `SocketError: connect ETIMEDOUT ${host}:${blackhole.port}`)
    assert.ok(Date.now() - started >= 150)
    await assert.rejects(socket.closed, (e) => e === err)
  })
}

test('many connections by name at once resolve on a bounded number of threads', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const threads = () => Number(/Threads:\s+(\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1])
  const before = threads()
  const sockets = Array.from({ length: 300 }, () => connect(`localhost:${srv.port}`))
  await within(Promise.all(sockets.map((s) => s.opened)), 20000, 'opened')
  // Idle lookup threads linger for seconds, so this is the peak.
  const during = threads()
  await Promise.all(sockets.map(async (s, i) => {
    const writer = s.writable.getWriter()
    await writer.write(new TextEncoder().encode(`n${i}`))
    const { value } = await s.readable.getReader().read()
    assert.equal(Buffer.from(value).toString(), `n${i}`)
    await s.close()
  }))
  // At most 4 lookup threads (as Node's pool) and the runtime's own, with room for others.
  assert.ok(during - before <= 8, `${during - before} threads more for 300 lookups`)
})

test('a connection by name opens, exchanges and reports the address it reached', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`)
  const info = await socket.opened
  assert.equal(info.remoteAddress, `127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  await writer.write(new TextEncoder().encode('by name'))
  const { value } = await socket.readable.getReader().read()
  assert.equal(Buffer.from(value).toString(), 'by name')
  await socket.close()
  const refused = connect(`localhost:${await closedPort()}`)
  await assert.rejects(refused.opened, (e) => e.code === 'ECONNREFUSED' && /^SocketError: connect ECONNREFUSED 127\.0\.0\.1:\d+$/.test(e.message))
})

test('writes made before opened are queued and sent in order', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const writes = [writer.write('one,'), writer.write('two,'), writer.write('three')]
  const reader = socket.readable.getReader()
  assert.equal((await readExactly(reader, 13)).toString(), 'one,two,three')
  await Promise.all(writes)
  await socket.close()
})

test('close() from inside a read loop (between two reads) ends the loop with done, not an error', async (t) => {
  const srv = await listen((sock) => sock.write('one message'))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  // Let the message arrive first (read ahead), so the read below is
  // answered at once and no read is pending when close() runs.
  await new Promise((resolve) => setTimeout(resolve, 100))
  const reader = socket.readable.getReader()
  const seen = []
  // The shape of pg-cloudflare's loop: the data handler may close the socket.
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    seen.push(Buffer.from(value).toString())
    socket.close()
  }
  assert.deepEqual(seen, ['one message'])
  await socket.closed
})

test('close() from inside a read loop whose read waited for the data (delivered by the readiness callback) ends it with done', async (t) => {
  const srv = await listen((sock) => setTimeout(() => sock.write('late message'), 100))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const reader = socket.readable.getReader()
  const seen = []
  for (;;) {
    const { done, value } = await reader.read() // waits: nothing has come yet
    if (done) break
    seen.push(Buffer.from(value).toString())
    socket.close()
  }
  assert.deepEqual(seen, ['late message'])
  await socket.closed
})
