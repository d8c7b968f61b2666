'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const tls = require('node:tls')
const crypto = require('node:crypto')
const { connect, SocketError } = require('sockets-api')
const { certs } = require('./certs')
const { readAll, readExactly, sha256, within, isPending } = require('./helpers')

const C = certs()

/**
 * A small SMTP-like server: greets "220 ready", answers "STARTTLS" with
 * "220 go ahead" (plus `inject`, if given, in the same write) and then speaks
 * TLS, where it answers every line with "TLS <line>". What it received in
 * plain text is recorded.
 */
function smtpServer ({ inject = '', onTls } = {}) {
  const plainSeen = []
  const tlsSeen = []
  const sockets = new Set()
  const server = net.createServer((sock) => {
    sockets.add(sock)
    sock.on('error', () => {})
    let buf = ''
    sock.write('220 ready\r\n')
    const onData = (d) => {
      buf += d.toString('latin1')
      let nl
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 2)
        plainSeen.push(line)
        if (line === 'STARTTLS') {
          sock.off('data', onData)
          if (buf.length) plainSeen.push(`(extra:${buf})`)
          sock.write('220 go ahead\r\n' + inject)
          const secure = new tls.TLSSocket(sock, { isServer: true, ...C.server })
          secure.on('error', () => {})
          secure.on('secure', () => {
            if (onTls) return onTls(secure)
            let tbuf = ''
            secure.on('data', (x) => {
              tbuf += x.toString('latin1')
              let n
              while ((n = tbuf.indexOf('\r\n')) >= 0) {
                const l = tbuf.slice(0, n)
                tbuf = tbuf.slice(n + 2)
                tlsSeen.push(l)
                if (l === 'QUIT') secure.end('221 bye\r\n')
                else secure.write(`TLS ${l}\r\n`)
              }
            })
          })
          return
        }
        sock.write(`250 ${line}\r\n`)
      }
    }
    sock.on('data', onData)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    plainSeen,
    tlsSeen,
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    }
  })))
}

/** Reads CRLF lines from a reader. */
function lineReader (reader) {
  let buf = ''
  return async function nextLine () {
    for (;;) {
      const nl = buf.indexOf('\r\n')
      if (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 2)
        return line
      }
      const { value, done } = await reader.read()
      if (done) return null
      buf += Buffer.from(value).toString('latin1')
    }
  }
}

/** The plain greeting and the go-ahead, with reader and writer released (as pg does). */
async function goAhead (socket) {
  const { reader, writer } = await plainGreeting(socket)
  reader.releaseLock()
  writer.releaseLock()
}

async function plainGreeting (socket) {
  const reader = socket.readable.getReader()
  const writer = socket.writable.getWriter()
  const next = lineReader(reader)
  assert.equal(await next(), '220 ready')
  await writer.write('STARTTLS\r\n')
  assert.equal(await next(), '220 go ahead')
  return { reader, writer }
}

async function tlsConversation (secure) {
  const writer = secure.writable.getWriter()
  const reader = secure.readable.getReader()
  const next = lineReader(reader)
  await writer.write('HELLO\r\n')
  assert.equal(await next(), 'TLS HELLO')
  await writer.write('QUIT\r\n')
  assert.equal(await next(), '221 bye')
  reader.releaseLock()
  writer.releaseLock()
}

test('startTls() upgrades after the go-ahead (readers and writers released first)', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  await goAhead(socket)
  const secure = socket.startTls()
  assert.equal(socket.upgraded, true)
  assert.equal(secure.secureTransport, 'on')
  assert.equal(secure.upgraded, false)
  const info = await secure.opened
  assert.equal(info.remoteAddress, `127.0.0.1:${srv.port}`)
  await tlsConversation(secure)
  await secure.close()
  assert.deepEqual(srv.tlsSeen, ['HELLO', 'QUIT'])
})

test('the old streams end even when their reader and writer are still locked', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  const { reader, writer } = await plainGreeting(socket)
  const pendingRead = reader.read() // a read pending on the old readable
  const secure = socket.startTls()
  assert.deepEqual(await within(pendingRead, 2000, 'old pending read'), { value: undefined, done: true })
  await assert.rejects(writer.write('plain after upgrade'), TypeError)
  await tlsConversation(secure)
  assert.ok(!srv.plainSeen.includes('plain after upgrade'))
})

test('writes accepted before startTls() go out in plain text before the ClientHello', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  const reader = socket.readable.getReader()
  const next = lineReader(reader)
  assert.equal(await next(), '220 ready')
  const writer = socket.writable.getWriter()
  writer.write('EHLO client\r\n').catch(() => {})
  writer.write('STARTTLS\r\n').catch(() => {}) // not awaited: still queued when startTls() runs
  // The server answers STARTTLS with "220 go ahead" and starts TLS; the client
  // upgrades without reading that answer first (pipelined, as some clients do).
  const secure = socket.startTls()
  const err = await secure.opened.then(() => null, (e) => e)
  // The "250 EHLO client" and "220 go ahead" lines arrive before the
  // handshake: they are plaintext after the upgrade point, so they are
  // discarded or make the handshake fail; they are never read as TLS data.
  if (err === null) {
    await tlsConversation(secure)
  } else {
    assert.ok(err instanceof SocketError, String(err))
  }
  assert.deepEqual(srv.plainSeen.slice(0, 2), ['EHLO client', 'STARTTLS'])
})

test('startTls() before opened works: the upgrade waits for the connection', async (t) => {
  // This server speaks TLS from its first byte, so a client can only talk
  // to it if the upgrade happens as soon as the connection is made.
  const server = net.createServer((sock) => {
    sock.on('error', () => {})
    const secure = new tls.TLSSocket(sock, { isServer: true, ...C.server })
    secure.on('error', () => {})
    secure.on('secure', () => secure.end('secret'))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise((resolve) => server.close(resolve)))
  const socket = connect(`localhost:${server.address().port}`, { secureTransport: 'starttls', ca: C.ca })
  const secure = socket.startTls() // the socket is still connecting
  assert.equal(socket.upgraded, true)
  assert.equal((await readAll(secure.readable)).toString(), 'secret')
  await socket.opened // the plain socket did open
  await secure.closed
})

test('the old closed resolves after startTls() has returned; a later close() leaves TLS alone', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  await goAhead(socket)
  let returned = false
  const order = socket.closed.then(() => returned)
  const secure = socket.startTls()
  returned = true
  assert.equal(await order, true)
  await socket.close()
  await tlsConversation(secure)
})

test('close() on the old socket right after startTls() leaves the upgrade alone', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  await goAhead(socket)
  const secure = socket.startTls()
  await socket.close() // before the hand-off has even started
  await secure.opened
  await tlsConversation(secure)
})

test('startTls() misuse: a second call, a closed socket, a plain or TLS socket', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  await goAhead(socket)
  const secure = socket.startTls()
  assert.throws(() => socket.startTls(), (e) => e instanceof SocketError &&
    e.message === 'SocketError: can only call startTls once')
  assert.throws(() => secure.startTls(), (e) => e instanceof SocketError &&
    e.message === "SocketError: secureTransport must be set to 'starttls'")
  await tlsConversation(secure)
  const closedOne = connect(`localhost:${srv.port}`, { secureTransport: 'starttls' })
  await closedOne.close()
  assert.throws(() => closedOne.startTls(), (e) => e instanceof SocketError && /closed/.test(e.message))
  const tlsOne = connect(`localhost:${srv.port}`, { secureTransport: 'on', ca: C.ca })
  assert.throws(() => tlsOne.startTls(), SocketError)
  await tlsOne.close()
})

test('plaintext sent after the go-ahead is never delivered as TLS data (injection)', async (t) => {
  const srv = await smtpServer({ inject: 'INJECTED COMMAND\r\n' })
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  const reader = socket.readable.getReader({ mode: 'byob' })
  const writer = socket.writable.getWriter()
  // Read exactly the greeting and the go-ahead line, leaving the injected
  // bytes unread.
  const want = '220 ready\r\n'
  let got = ''
  while (got.length < want.length) {
    const { value } = await reader.read(new Uint8Array(want.length - got.length))
    got += Buffer.from(value).toString()
  }
  await writer.write('STARTTLS\r\n')
  const goAhead = '220 go ahead\r\n'
  got = ''
  while (got.length < goAhead.length) {
    const { value } = await reader.read(new Uint8Array(goAhead.length - got.length))
    got += Buffer.from(value).toString()
  }
  assert.equal(got, goAhead)
  reader.releaseLock()
  writer.releaseLock()
  const secure = socket.startTls()
  const err = await secure.opened.then(() => null, (e) => e)
  if (err !== null) {
    // The injected bytes reached the handshake and broke it: also safe.
    assert.ok(err instanceof SocketError)
    return
  }
  const w = secure.writable.getWriter()
  const r = secure.readable.getReader()
  await w.write('QUIT\r\n')
  const rest = []
  for (;;) {
    const { value, done } = await r.read()
    if (done) break
    rest.push(Buffer.from(value))
  }
  const text = Buffer.concat(rest).toString()
  assert.doesNotMatch(text, /INJECTED/)
  assert.equal(text, '221 bye\r\n')
})

test('a failed upgrade rejects the new socket\'s opened and closed with the certificate error', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls' })
  await goAhead(socket)
  const secure = socket.startTls() // system roots: the test CA is unknown
  const err = await secure.opened.then(() => null, (e) => e)
  assert.ok(err instanceof SocketError)
  assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  await assert.rejects(secure.closed, (e) => e === err)
})

test('startTls options: expectedServerHostname and ca given at upgrade time', async (t) => {
  const srv = await smtpServer()
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`, { secureTransport: 'starttls' })
  await goAhead(socket)
  const secure = socket.startTls({ expectedServerHostname: 'localhost', ca: [C.ca], unknownKey: 1 })
  await secure.opened
  await tlsConversation(secure)
})

test('many MB through an upgraded connection arrive intact', async (t) => {
  const payload = crypto.randomBytes(6 << 20)
  const srv = await smtpServer({ onTls: (secure) => secure.pipe(secure) })
  t.after(() => srv.close())
  const socket = connect(`localhost:${srv.port}`, { secureTransport: 'starttls', ca: C.ca })
  await goAhead(socket)
  const secure = socket.startTls()
  const w = secure.writable.getWriter()
  const sending = (async () => {
    for (let i = 0; i < payload.length; i += 65536) {
      await w.ready
      await w.write(payload.subarray(i, i + 65536))
    }
  })()
  const r = secure.readable.getReader()
  const got = await readExactly(r, payload.length)
  await sending
  assert.equal(sha256(got), sha256(payload))
  assert.ok(await isPending(secure.closed))
  await secure.close()
})
