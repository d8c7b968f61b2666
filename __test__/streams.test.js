'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { connect, SocketError } = require('sockets-api')
const {
  listen, echo, readExactly, collect, nextConnection, sha256, within, isPending, echoThrough, listenTls, generator
} = require('./helpers')

test('the readable is a byte stream: a BYOB reader fills the caller\'s view', async (t) => {
  const srv = await listen((sock) => sock.end('0123456789'))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader({ mode: 'byob' })
  let got = ''
  let buf = new ArrayBuffer(4)
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(buf, 1, 3))
    if (done) break
    assert.ok(value instanceof Uint8Array)
    assert.ok(value.byteLength <= 3)
    assert.equal(value.byteOffset, 1)
    got += Buffer.from(value).toString()
    buf = value.buffer
  }
  assert.equal(got, '0123456789')
  await socket.closed
})

test('a BYOB read into a non-Uint8Array view gets exactly whole elements', async (t) => {
  const srv = await listen((sock) => sock.end(Buffer.from([1, 0, 2, 0])))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader({ mode: 'byob' })
  const collected = []
  for (;;) {
    const { value, done } = await reader.read(new Uint16Array(2))
    if (done) break
    collected.push(...value)
  }
  assert.deepEqual(collected, [1, 2])
})

test('several reads may be pending at once and are served in order', async (t) => {
  const srv = await listen((sock) => {
    sock.once('data', () => {
      sock.write('a')
      setTimeout(() => sock.write('b'), 20)
      setTimeout(() => sock.end('c'), 40)
    })
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader()
  const reads = [reader.read(), reader.read(), reader.read(), reader.read()]
  await socket.writable.getWriter().write('go')
  const results = await within(Promise.all(reads), 3000, 'pending reads')
  const text = results.filter((r) => !r.done).map((r) => Buffer.from(r.value).toString()).join('')
  assert.equal(text, 'abc')
  assert.equal(results[results.length - 1].done, true)
})

test('default readers get Uint8Array chunks', async (t) => {
  const srv = await listen((sock) => sock.end('x'))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const { value } = await socket.readable.getReader().read()
  assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype)
})

test('the writable takes strings (UTF-8), ArrayBuffers and any view, byte for byte', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const peer = await accepted
  const received = collect(peer)
  const writer = socket.writable.getWriter()
  const backing = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).buffer
  await writer.write('héllo ✓')
  await writer.write(new Uint8Array([1, 2, 3]))
  await writer.write(new Uint8Array(backing, 2, 3))
  await writer.write(backing.slice(8))
  await writer.write(new DataView(backing, 5, 2))
  await writer.write(new Uint16Array([0x0102]))
  await writer.write(Buffer.from('buf'))
  await writer.write(new Float64Array([1.5]))
  await writer.close()
  const expected = Buffer.concat([
    Buffer.from('héllo ✓', 'utf8'),
    Buffer.from([1, 2, 3]),
    Buffer.from([2, 3, 4]),
    Buffer.from([8, 9]),
    Buffer.from([5, 6]),
    Buffer.from(new Uint16Array([0x0102]).buffer),
    Buffer.from('buf'),
    Buffer.from(new Float64Array([1.5]).buffer)
  ])
  assert.deepEqual(await received, expected)
})

test('a zero-length write resolves and sends nothing', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  const accepted = nextConnection(srv)
  const socket = connect(`127.0.0.1:${srv.port}`)
  const peer = await accepted
  const received = collect(peer)
  const writer = socket.writable.getWriter()
  await writer.write(new Uint8Array(0))
  await writer.write('')
  await writer.write('z')
  await writer.close()
  assert.equal((await received).toString(), 'z')
})

test('unsupported write values reject with a TypeError', async (t) => {
  const srv = await listen(() => {})
  t.after(() => srv.close())
  for (const value of [42, null, undefined, {}, [1, 2], true, Symbol('s')]) {
    const socket = connect(`127.0.0.1:${srv.port}`)
    const writer = socket.writable.getWriter()
    const err = await writer.write(value).then(() => null, (e) => e)
    assert.ok(err instanceof TypeError, `write(${String(value)}) should reject with a TypeError`)
    assert.ok(err instanceof SocketError)
    await socket.close()
  }
})

test('a fresh writer\'s ready resolves at once; backpressure shows in desiredSize and ready', async (t) => {
  let peer
  const srv = await listen((sock) => {
    peer = sock
    sock.pause() // reads nothing until told
  })
  t.after(() => srv.close())
  const highWaterMark = 64 * 1024
  const socket = connect(`127.0.0.1:${srv.port}`, { highWaterMark })
  const writer = socket.writable.getWriter()
  assert.equal(await within(writer.ready, 1000, 'ready'), undefined)
  assert.equal(writer.desiredSize, highWaterMark)
  await socket.opened
  // Write until the socket stops taking data: ready must then stay pending.
  const chunk = Buffer.alloc(64 * 1024)
  let written = 0
  while (!(await isPending(writer.ready, 20))) {
    writer.write(chunk).catch(() => {})
    written += chunk.length
    assert.ok(written < 512 * 1024 * 1024, 'backpressure never applied')
  }
  assert.ok(writer.desiredSize <= 0)
  // Once the peer reads, ready resolves again.
  const drained = collect(peer)
  peer.resume()
  await within(writer.ready, 5000, 'ready after the peer reads')
  await writer.close()
  assert.equal((await drained).length, written)
})

test('memory stays bounded while writing into a peer that does not read', async (t) => {
  const srv = await listen((sock) => sock.pause())
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const chunk = Buffer.alloc(1024 * 1024)
  const before = process.memoryUsage().rss
  for (let i = 0; i < 200; i++) {
    if (await isPending(writer.ready, 10)) break
    writer.write(chunk).catch(() => {})
  }
  const grown = process.memoryUsage().rss - before
  assert.ok(grown < 150 * 1024 * 1024, `RSS grew by ${grown} bytes`)
  await socket.close(new Error('done'))
})

async function transfer (t, size, readerMode) {
  const payload = crypto.randomBytes(size)
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const { total, digest } = await echoThrough(socket, payload, readerMode)
  assert.equal(total, payload.length)
  assert.equal(digest, sha256(payload))
  await within(socket.closed, 5000, 'closed')
}

test('16 MiB echoed through a default reader arrive intact (checksum)', (t) => transfer(t, 16 << 20, 'default'))
test('16 MiB echoed through a BYOB reader arrive intact (checksum)', (t) => transfer(t, 16 << 20, 'byob'))

test('the readable ends on peer FIN even with no reader attached yet', async (t) => {
  const srv = await listen((sock) => sock.end('early'))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  await new Promise((resolve) => setTimeout(resolve, 50))
  const reader = socket.readable.getReader()
  assert.equal(Buffer.from((await reader.read()).value).toString(), 'early')
  assert.equal((await reader.read()).done, true)
})

test('bytes and the FIN right behind them: every byte, then the end without a read asking for it, for a reader waiting and one that comes later; plain and TLS', async (t) => {
  // The last read of the bytes comes back short with the FIN already
  // queued behind it: nothing new happens on the socket after that read,
  // and the end must still be reported.
  const { certs } = require('./certs')
  const C = certs()
  const sizes = [1, 1000, 70000]
  const payload = (n) => Buffer.alloc(n, n % 251)
  const handler = (sock) => sock.once('data', (d) => sock.end(payload(Number(d.toString()))))
  const plain = await listen(handler)
  const secure = await listenTls({ key: C.server.key, cert: C.server.cert }, handler)
  t.after(() => Promise.all([plain.close(), secure.close()]))
  for (const [kind, port, opts] of [['plain', plain.port, {}], ['TLS', secure.port, { secureTransport: 'on', ca: C.ca }]]) {
    for (const size of sizes) {
      for (const late of [false, true]) {
        for (let i = 0; i < 5; i++) {
          const what = `${kind}, ${size} B, ${late ? 'reader later' : 'reader waiting'}, #${i}`
          const socket = connect(`localhost:${port}`, opts)
          const writer = socket.writable.getWriter()
          await writer.write(String(size))
          writer.releaseLock()
          if (late) await new Promise((resolve) => setTimeout(resolve, 20))
          const reader = socket.readable.getReader()
          const got = []
          let length = 0
          while (length < size) {
            const { value, done } = await within(reader.read(), 3000, `${what}: a read`)
            assert.equal(done, false, `${what}: ended after ${length} bytes`)
            got.push(Buffer.from(value))
            length += value.byteLength
          }
          assert.ok(Buffer.concat(got).equals(payload(size)), what)
          // No read is asked for, yet the end is noticed (read ahead).
          await within(reader.closed, 3000, `${what}: the readable's end`)
          await socket.close()
        }
      }
    }
  }
})

test('pipeTo and pipeThrough work on the socket streams', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const source = new ReadableStream({
    start (c) {
      c.enqueue(new TextEncoder().encode('piped '))
      c.enqueue(new TextEncoder().encode('data'))
      c.close()
    }
  })
  const piping = source.pipeTo(socket.writable)
  const text = socket.readable.pipeThrough(new TextDecoderStream())
  let got = ''
  for await (const s of text) got += s
  await piping
  assert.equal(got, 'piped data')
})

test('reading a stream with readExactly keeps message boundaries intact', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  for (let i = 0; i < 200; i++) {
    const msg = Buffer.alloc(64, i)
    await writer.write(msg)
    assert.deepEqual(await readExactly(reader, 64), msg)
  }
  await socket.close()
})

test('memory stays bounded while a peer floods a socket nobody reads', async (t) => {
  let written = 0
  const chunk = Buffer.alloc(1024 * 1024, 9)
  const srv = await listen((sock) => {
    const pump = () => {
      while (written < 512 * 1024 * 1024 && sock.write(chunk)) written += chunk.length
      if (written < 512 * 1024 * 1024) sock.once('drain', () => { written += chunk.length; pump() })
    }
    pump()
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const before = process.memoryUsage().rss
  await new Promise((resolve) => setTimeout(resolve, 1500)) // nobody reads
  const grown = process.memoryUsage().rss - before
  // One read-ahead chunk at most; the rest waits in kernel buffers and TCP
  // flow control stops the peer.
  assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${grown} bytes`)
  assert.ok(written < 256 * 1024 * 1024, `the peer could write ${written} bytes`)
  await socket.close(new Error('done'))
})

test('highWaterMark: 0 still lets writes through (ready resolves while nothing is queued)', async (t) => {
  const srv = await listen(echo)
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, { highWaterMark: 0 })
  const writer = socket.writable.getWriter()
  await within(writer.ready, 1000, 'ready with highWaterMark 0')
  await writer.write('ok')
  assert.equal((await readExactly(socket.readable.getReader(), 2)).toString(), 'ok')
  await socket.close()
})

test('tens of thousands of small writes queued without awaiting arrive whole and in order', async (t) => {
  const received = []
  const srv = await listen((sock) => sock.on('data', (d) => received.push(d)))
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const writer = socket.writable.getWriter()
  const parts = []
  const writes = []
  for (let i = 0; i < 30000; i++) {
    const part = `${i},`
    parts.push(part)
    writes.push(writer.write(part))
  }
  await Promise.all(writes)
  await socket.close()
  const expected = parts.join('')
  await within((async () => {
    while (Buffer.concat(received).length < expected.length) await new Promise((resolve) => setTimeout(resolve, 10))
  })(), 10000, 'the server receiving everything')
  assert.equal(Buffer.concat(received).toString(), expected)
})

/**
 * A connection to a peer (TLS or not, reading at once or after 200 ms) that
 * collects what it receives: `got` fills, and `done` resolves to the peer's
 * socket when our FIN arrives.
 */
async function collectingPeer (t, secure, paused) {
  const { certs } = require('./certs')
  const C = certs()
  const got = []
  let listening
  const done = new Promise((resolve) => {
    const handler = (sock) => {
      if (paused) {
        sock.pause()
        setTimeout(() => sock.resume(), 200)
      }
      sock.on('data', (d) => got.push(d))
      sock.on('end', () => resolve(sock))
    }
    listening = secure ? listenTls(C.server, handler) : listen(handler)
  })
  const srv = await listening
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, secure ? { secureTransport: 'on', ca: C.ca } : {})
  await socket.opened
  return { socket, got, done }
}

for (const secure of [false, true]) {
  for (const paused of [false, true]) {
    test(`a chunk is captured at write(): refilling the buffer afterwards changes nothing sent (${secure ? 'TLS' : 'plain'}, peer ${paused ? 'slow' : 'reading'})`, async (t) => {
      const { socket, got, done } = await collectingPeer(t, secure, paused)
      const writer = socket.writable.getWriter()
      // One reused buffer, as drivers keep one: every write() sees it refilled.
      const buf = new Uint8Array(300 * 1024)
      const expected = []
      const writes = []
      for (let i = 0; i < 40; i++) {
        crypto.randomFillSync(buf)
        const size = 1 + (i * 7919) % buf.length
        expected.push(Buffer.from(buf.subarray(0, size)))
        writes.push(writer.write(buf.subarray(0, size)))
        if (i % 10 === 9) await writes[i]
      }
      buf.fill(0)
      await Promise.all(writes)
      await writer.close()
      const peer = await within(done, 10000, 'the peer to see the end')
      assert.ok(peer)
      assert.equal(sha256(Buffer.concat(got)), sha256(Buffer.concat(expected)))
      await socket.close()
    })
  }
}

for (const secure of [false, true]) {
  for (const paused of [false, true]) {
    test(`small chunks written in one turn, between larger ones, arrive whole, in order and as captured (${secure ? 'TLS' : 'plain'}, peer ${paused ? 'slow' : 'reading'})`, async (t) => {
      const { socket, got, done } = await collectingPeer(t, secure, paused)
      const writer = socket.writable.getWriter()
      const buf = new Uint8Array(256 * 1024)
      const expected = []
      const writes = []
      let seed = 1
      const next = (n) => { seed = (seed * 48271) % 2147483647; return seed % n }
      for (let turn = 0; turn < 150; turn++) {
        // A message in several pieces, as drivers write one; now and then a
        // large chunk between them. The buffer is refilled after each write.
        const pieces = 1 + next(8)
        for (let i = 0; i < pieces; i++) {
          const size = next(10) === 0 ? 2000 + next(buf.length - 2000) : 1 + next(1100)
          crypto.randomFillSync(buf, 0, size)
          expected.push(Buffer.from(buf.subarray(0, size)))
          writes.push(writer.write(buf.subarray(0, size)))
          if (next(4) === 0) {
            const text = `piece ${turn}.${i};`
            expected.push(Buffer.from(text))
            writes.push(writer.write(text))
          }
        }
        buf.fill(0)
        if (turn % 10 === 9) await writes[writes.length - 1]
      }
      // Closed in the same turn as the last pieces: they go before the FIN.
      const closing = writer.close()
      await Promise.all(writes)
      await closing
      await within(done, 10000, 'the peer to see the end')
      assert.equal(sha256(Buffer.concat(got)), sha256(Buffer.concat(expected)))
      await socket.close()
    })
  }
}

for (const secure of [false, true]) {
  test(`sockets writing small chunks in the same turns each send exactly their own bytes, in order and as captured (${secure ? 'TLS' : 'plain'})`, async (t) => {
    // The pieces of a turn are copied into memory the sockets share: here
    // they interleave there, and fill it (16 KiB) several times per turn.
    const { certs } = require('./certs')
    const C = certs()
    const received = new Map()
    let allEnded
    const ended = new Promise((resolve) => { allEnded = resolve })
    const handler = (sock) => {
      const chunks = []
      sock.on('data', (d) => chunks.push(d))
      sock.on('end', () => {
        const bytes = Buffer.concat(chunks)
        received.set(bytes[0], bytes)
        if (received.size === 4) allEnded()
      })
    }
    const srv = await (secure ? listenTls(C.server, handler) : listen(handler))
    t.after(() => srv.close())
    const sockets = []
    for (let i = 0; i < 4; i++) {
      const socket = connect(`localhost:${srv.port}`, secure ? { secureTransport: 'on', ca: C.ca } : {})
      await socket.opened
      sockets.push(socket)
    }
    const writers = sockets.map((s) => s.writable.getWriter())
    const expected = sockets.map(() => [])
    const writes = []
    const buf = new Uint8Array(1024)
    let seed = 7
    const next = (n) => { seed = (seed * 48271) % 2147483647; return seed % n }
    // Each socket's first byte names it, for the peer.
    writers.forEach((w, i) => {
      expected[i].push(Buffer.from([i]))
      writes.push(w.write(new Uint8Array([i])))
    })
    for (let turn = 0; turn < 20; turn++) {
      for (let k = 0; k < 60; k++) {
        const i = next(writers.length)
        const size = 1 + next(buf.length)
        crypto.randomFillSync(buf, 0, size)
        expected[i].push(Buffer.from(buf.subarray(0, size)))
        writes.push(writers[i].write(buf.subarray(0, size)))
        buf.fill(0) // captured at write(): what was there then goes out
      }
      await null
    }
    await within(Promise.all(writes), 10000, 'the writes')
    await Promise.all(writers.map((w) => w.close()))
    await within(ended, 10000, 'the peers to see the end')
    for (let i = 0; i < sockets.length; i++) {
      const got = received.get(i)
      assert.ok(got, `socket ${i}: nothing arrived`)
      assert.equal(sha256(got), sha256(Buffer.concat(expected[i])), `socket ${i}`)
    }
    await Promise.all(sockets.map((s) => s.close()))
  })
}

test('a message written in small pieces in one turn goes out in one send (one TLS record)', async (t) => {
  // docs/api.md: one send. Over TLS each send is a record of its own, which
  // the peer reads on its own, so a send per piece, or the first piece sent
  // at once, gives a first read of less than the message. (Plain TCP cannot
  // show it here: the peer, in this process, reads only after the turn, when
  // every send has arrived and the kernel has joined them. The gathering is
  // the same for both.)
  const { certs } = require('./certs')
  const C = certs()
  let firstRead
  const first = new Promise((resolve) => { firstRead = resolve })
  const handler = (sock) => sock.once('data', firstRead)
  const srv = await listenTls(C.server, handler)
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  await socket.opened
  const writer = socket.writable.getWriter()
  // As pg writes a parameterised query: parse, bind, describe, execute, sync.
  const pieces = [Buffer.alloc(40, 1), Buffer.alloc(25, 2), 'describe', new Uint8Array(14).fill(4), Buffer.alloc(5, 5)]
  const writes = pieces.map((p) => writer.write(p))
  // Every piece has gone out, however it was sent, before the first read is looked at.
  await new Promise((resolve) => setTimeout(resolve, 50))
  await Promise.all(writes)
  const got = await within(first, 2000, 'the first read')
  assert.ok(got.equals(Buffer.concat(pieces.map((p) => Buffer.from(p)))), `the first read had ${got.length} bytes`)
  await socket.close()
})

test('small writes then the writable\'s close in the same turn: all of them go before the FIN', async (t) => {
  const srv = await listen((sock) => {
    const parts = []
    sock.on('data', (d) => parts.push(d))
    sock.on('end', () => sock.end(Buffer.concat(parts)))
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  const writer = socket.writable.getWriter()
  for (let i = 0; i < 50; i++) writer.write(`${i};`)
  const closing = writer.close()
  const reader = socket.readable.getReader()
  const back = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    back.push(Buffer.from(value))
  }
  await closing
  assert.equal(Buffer.concat(back).toString(), Array.from({ length: 50 }, (_, i) => `${i};`).join(''))
  await socket.closed
})

test('writer.write() after writer.close() is a rejected promise (TypeError), and the close still completes', async (t) => {
  const srv = await listen((sock) => sock.resume())
  t.after(() => srv.close())
  for (const when of ['before open', 'after open']) {
    const socket = connect(`127.0.0.1:${srv.port}`)
    if (when === 'after open') await socket.opened
    const writer = socket.writable.getWriter()
    await writer.write('a')
    const closing = writer.close()
    let late
    assert.doesNotThrow(() => { late = writer.write('too late') })
    await assert.rejects(late, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_STATE')
    await within(closing, 2000, `writer.close() ${when}`)
    await socket.close()
  }
  // A released writer's close() does not mark the stream closed.
  const socket = connect(`127.0.0.1:${srv.port}`)
  const first = socket.writable.getWriter()
  first.releaseLock()
  await assert.rejects(first.close())
  const second = socket.writable.getWriter()
  await second.write('fine')
  await socket.close()
})

test('what the peer sends first (a greeting) is read ahead and reaches a reader that comes later, default and BYOB, plain and TLS', async (t) => {
  const { certs } = require('./certs')
  const C = certs()
  const greeting = (sock) => sock.write('220 ready\r\n')
  const plain = await listen(greeting)
  const secure = await listenTls({ key: C.server.key, cert: C.server.cert }, greeting)
  t.after(() => Promise.all([plain.close(), secure.close()]))
  for (const [kind, port, opts] of [['plain', plain.port, {}], ['TLS', secure.port, { secureTransport: 'on', ca: C.ca }]]) {
    for (const mode of ['default', 'byob']) {
      const socket = connect(`localhost:${port}`, opts)
      await socket.opened
      // Long enough for the greeting to arrive and be read ahead, and for
      // a further read ahead to find the socket empty.
      await new Promise((resolve) => setTimeout(resolve, 50))
      const reader = socket.readable.getReader(mode === 'byob' ? { mode } : undefined)
      const { value } = await within(mode === 'byob' ? reader.read(new Uint8Array(64)) : reader.read(), 2000, `${kind} ${mode} read`)
      assert.equal(Buffer.from(value).toString(), '220 ready\r\n', `${kind} ${mode}`)
      // And the next read waits for what comes next, which is the FIN.
      const next = reader.read(mode === 'byob' ? new Uint8Array(64) : undefined)
      assert.ok(await isPending(next), `${kind} ${mode}: the next read waits`)
      await socket.close()
      assert.equal((await next).done, true)
    }
  }
})

test('writes that go straight to the socket keep the stream\'s rules: after abort(), on a released writer, after close()', async (t) => {
  const srv = await listen((sock) => sock.resume())
  t.after(() => srv.close())
  // After writer.abort() a write rejects, though the socket could take it.
  let socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  let writer = socket.writable.getWriter()
  await writer.write('a')
  const aborting = writer.abort(new Error('stop'))
  await assert.rejects(writer.write('b'))
  await aborting
  await socket.close()
  // A released writer's write rejects (a TypeError), and the stream takes
  // a new writer's writes.
  socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  writer = socket.writable.getWriter()
  await writer.write('a')
  writer.releaseLock()
  await assert.rejects(writer.write('b'), TypeError)
  await socket.writable.getWriter().write('c')
  await socket.close()
  // Once the connection is closed, writes reject and nothing reaches the peer.
  socket = connect(`127.0.0.1:${srv.port}`)
  await socket.opened
  writer = socket.writable.getWriter()
  await socket.close()
  await assert.rejects(writer.write('late'))
})

test('Buffers big and small, some awaited and some not, refilled after write(), arrive in order and as captured while the peer reads slowly', async (t) => {
  for (const secure of [false, true]) {
    const { socket, got, done } = await collectingPeer(t, secure, true)
    const writer = socket.writable.getWriter()
    const expected = []
    const random = generator(7)
    const pending = []
    for (let i = 0; i < 400; i++) {
      const size = random.next() < 0.2 ? random.int(1, 300000) : random.int(1, 200)
      const chunk = crypto.randomBytes(size)
      expected.push(Buffer.from(chunk))
      const p = writer.write(chunk)
      chunk.fill(0) // captured at write(): what was there then goes out
      if (random.next() < 0.5) await p
      else pending.push(p)
    }
    await Promise.all(pending)
    await writer.close()
    await socket.close()
    ;(await done).destroy()
    assert.equal(sha256(Buffer.concat(got)), sha256(Buffer.concat(expected)), secure ? 'TLS' : 'plain')
  }
})

/**
 * A plain and a TLS server that hand each accepted connection to the test:
 * [{ kind, open }], where open() connects and resolves to { socket, peer }.
 */
async function peerPerConnection (t) {
  const { certs } = require('./certs')
  const C = certs()
  let accepted = null
  const keep = (sock) => { if (accepted) accepted(sock) }
  const plain = await listen(keep)
  const secure = await listenTls({ key: C.server.key, cert: C.server.cert }, keep)
  t.after(() => Promise.all([plain.close(), secure.close()]))
  const opener = (port, opts) => async () => {
    const peer = new Promise((resolve) => { accepted = resolve })
    const socket = connect(`localhost:${port}`, opts)
    await socket.opened
    return { socket, peer: await peer }
  }
  return [
    { kind: 'plain', open: opener(plain.port, {}) },
    { kind: 'TLS', open: opener(secure.port, { secureTransport: 'on', ca: C.ca }) }
  ]
}

test('close() with nothing left on its way ends the socket within the call; writes of the same turn (sent, gathered, partly taken) all arrive first; plain and TLS', async (t) => {
  const received = (peer) => new Promise((resolve, reject) => {
    const chunks = []
    peer.on('data', (c) => chunks.push(c))
    peer.on('end', () => resolve(Buffer.concat(chunks)))
    peer.on('error', reject)
  })
  for (const { kind, open } of await peerPerConnection(t)) {
    // Nothing written: `closed` has resolved by the next microtask, the
    // peer sees a clean end, and the streams refuse what comes after.
    let { socket, peer } = await open()
    let got = received(peer)
    let closed = false
    socket.close().then(() => { closed = true })
    await null
    assert.equal(closed, true, `${kind}: closed was still pending after close()`)
    assert.equal((await within(got, 2000, `${kind} FIN`)).length, 0, kind)
    await assert.rejects(socket.writable.getWriter().write('late'), TypeError)
    // docs/api.md: that error is made by close() and has no stack frames.
    await assert.rejects(socket.readable.getReader().read(), (e) =>
      e.code === 'ERR_SOCKET_CLOSED' && !/\n\s+at /.test(e.stack))
    // Written in the same turn as close(): the small ones are gathered, a
    // large one between them is partly taken (the peer does not read until
    // close() has returned); all arrive, in order.
    ;({ socket, peer } = await open())
    peer.pause()
    got = received(peer)
    const w = socket.writable.getWriter()
    const big = Buffer.alloc(8 * 1024 * 1024, 9)
    const writes = [w.write('first,'), w.write('second,'), w.write(big), w.write(',last')]
    const closing = socket.close()
    setTimeout(() => peer.resume(), 50)
    await within(Promise.all([...writes, closing]), 10000, `${kind} writes and close`)
    const bytes = await within(got, 10000, `${kind} data and FIN`)
    assert.equal(bytes.length, 13 + big.length + 5, kind)
    assert.equal(bytes.subarray(0, 13).toString(), 'first,second,', kind)
    assert.equal(bytes.subarray(-5).toString(), ',last', kind)
    assert.ok(bytes.subarray(13, 13 + big.length).equals(big), kind)
  }
})

test('reads that find bytes already there keep the stream\'s rules: order beside pending reads, a released reader, a foreign this, cancel(), close(), the peer\'s end; plain and TLS', async (t) => {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50))
  const text = (chunks) => chunks.map((v) => Buffer.from(v).toString()).join('')
  for (const { kind, open } of await peerPerConnection(t)) {
    let { socket, peer } = await open()
    let reader = socket.readable.getReader()
    // Bytes there before the read: it gets them.
    peer.write('one')
    await settle()
    assert.equal(text([(await reader.read()).value]), 'one', kind)
    // Reads pending first, then bytes: the pending reads get them first,
    // and a read made while they wait comes after them.
    const pending = [reader.read(), reader.read()]
    peer.write('two')
    await settle()
    peer.write('three')
    await settle()
    peer.write('four')
    await settle()
    const later = reader.read()
    const got = await within(Promise.all([...pending, later]), 2000, `${kind} pending reads`)
    assert.deepEqual(got.map((r) => r.done), [false, false, false], kind)
    assert.equal(text(got.map((r) => r.value)), 'twothreefour', kind)
    // A released reader takes nothing; the next reader gets the bytes.
    peer.write('five')
    await settle()
    reader.releaseLock()
    await assert.rejects(reader.read(), TypeError)
    reader = socket.readable.getReader()
    // A read called on something that is not the reader fails as the
    // stream's own read does, and takes nothing.
    await assert.rejects(Reflect.apply(reader.read, {}, []), TypeError)
    assert.equal(text([(await reader.read()).value]), 'five', kind)
    // After cancel(), bytes there are not read: the read is done.
    peer.write('six')
    await settle()
    await reader.cancel()
    assert.deepEqual(await reader.read(), { value: undefined, done: true }, kind)
    await socket.close()

    // After close(), bytes there are not handed out.
    ;({ socket, peer } = await open())
    reader = socket.readable.getReader()
    peer.write('seven')
    await settle()
    await socket.close()
    const afterClose = await reader.read().then((r) => r, (e) => e)
    assert.ok(afterClose instanceof TypeError || afterClose.done === true, `${kind}: ${afterClose}`)
    assert.equal(afterClose.value, undefined, kind)

    // The peer's last bytes, then its end: read, then done.
    ;({ socket, peer } = await open())
    reader = socket.readable.getReader()
    peer.end('eight')
    await settle()
    assert.equal(text([(await reader.read()).value]), 'eight', kind)
    assert.equal((await within(reader.read(), 2000, `${kind} end`)).done, true, kind)
    await socket.close()
  }
})

test('a read that waits for bytes keeps the stream\'s rules: reads after it, releaseLock(), cancel(), close(), the peer\'s end and reset; plain and TLS', async (t) => {
  const settle = () => new Promise((resolve) => setTimeout(resolve, 30))
  const text = (results) => results.map((r) => Buffer.from(r.value).toString()).join('')
  for (const { kind, open: openPeer } of await peerPerConnection(t)) {
    const open = async () => {
      const { socket, peer } = await openPeer()
      await settle() // what the handshake leaves is read and found empty
      return { socket, peer, reader: socket.readable.getReader() }
    }
    let { socket, peer, reader } = await open()
    // A read waits; reads made meanwhile come after it, in order.
    const first = reader.read()
    assert.ok(await isPending(first, 30), `${kind}: the read waits`)
    const more = [reader.read(), reader.read()]
    peer.write('a')
    await settle()
    peer.write('b')
    await settle()
    peer.write('c')
    const got = await within(Promise.all([first, ...more]), 2000, `${kind} reads`)
    assert.equal(text(got), 'abc', kind)
    // releaseLock(): the waiting read fails with a TypeError, and what
    // arrives afterwards reaches the next reader.
    const released = reader.read()
    assert.ok(await isPending(released, 30), kind)
    reader.releaseLock()
    await assert.rejects(within(released, 2000, `${kind} released`), TypeError)
    peer.write('d')
    await settle()
    reader = socket.readable.getReader()
    assert.equal(text([await reader.read()]), 'd', kind)
    // cancel(): the waiting read is done.
    const cancelled = reader.read()
    assert.ok(await isPending(cancelled, 30), kind)
    await reader.cancel()
    assert.deepEqual(await within(cancelled, 2000, `${kind} cancel`), { value: undefined, done: true }, kind)
    await socket.close()

    // close(): the waiting read is done.
    ;({ socket, peer, reader } = await open())
    const closing = reader.read()
    assert.ok(await isPending(closing, 30), kind)
    await socket.close()
    assert.deepEqual(await within(closing, 2000, `${kind} close`), { value: undefined, done: true }, kind)

    // The peer's end: done; its reset: a SocketError.
    ;({ socket, peer, reader } = await open())
    const ending = reader.read()
    assert.ok(await isPending(ending, 30), kind)
    peer.end()
    assert.deepEqual(await within(ending, 2000, `${kind} end`), { value: undefined, done: true }, kind)
    await socket.close()
    if (kind === 'TLS') continue // node:tls cannot reset; the plain case covers the read
    ;({ socket, peer, reader } = await open())
    const resetting = reader.read()
    assert.ok(await isPending(resetting, 30), kind)
    peer.resetAndDestroy()
    const e = await within(resetting.then(() => null, (err) => err), 2000, `${kind} reset`)
    assert.ok(e instanceof SocketError, `${kind}: ${e}`)
    await socket.closed.catch(() => {})
  }
})

test('a write while the writable holds nothing, and a read while bytes are there, are settled when they return; the writer then shows no backpressure (plain and TLS)', async (t) => {
  // Settled already: its reaction runs before one queued just after it.
  const alreadySettled = (p) => Promise.race([p.then(() => true, () => true), Promise.resolve().then(() => false)])
  for (const { kind, open } of await peerPerConnection(t)) {
    const { socket, peer } = await open()
    const writer = socket.writable.getWriter()
    const reader = socket.readable.getReader()
    const hwm = writer.desiredSize
    const received = new Promise((resolve) => peer.once('data', resolve))
    assert.equal(await alreadySettled(writer.write('ping')), true, `${kind} write`)
    assert.equal(writer.desiredSize, hwm, kind)
    assert.equal(String(await within(received, 2000, `${kind} peer`)), 'ping', kind)
    peer.write('pong')
    await new Promise((resolve) => setTimeout(resolve, 50))
    const read = reader.read()
    assert.equal(await alreadySettled(read), true, `${kind} read`)
    assert.equal(Buffer.from((await read).value).toString(), 'pong', kind)
    await socket.close()
  }
})
