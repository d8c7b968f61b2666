'use strict'

// A real server: PostgreSQL's SSLRequest, then startTls(), then the startup
// handshake (SCRAM-SHA-256) to ReadyForQuery and a query, spoken by hand.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { connect, SocketError } = require('sockets-api')
const { startPostgres, why } = require('./pg')
const { certs } = require('./certs')

let pg
test.before(async () => { pg = await startPostgres() })
test.after(() => pg && pg.stop())

/** PostgreSQL frontend/backend messages over a socket's streams. */
class Wire {
  constructor (socket) {
    this.reader = socket.readable.getReader()
    this.writer = socket.writable.getWriter()
    this.buf = Buffer.alloc(0)
  }

  async need (n) {
    while (this.buf.length < n) {
      const { value, done } = await this.reader.read()
      if (done) throw new Error('connection ended')
      this.buf = Buffer.concat([this.buf, Buffer.from(value)])
    }
  }

  async byte () {
    await this.need(1)
    const b = this.buf[0]
    this.buf = this.buf.subarray(1)
    return b
  }

  async message () {
    await this.need(5)
    const type = String.fromCharCode(this.buf[0])
    const len = this.buf.readInt32BE(1)
    await this.need(1 + len)
    const body = this.buf.subarray(5, 1 + len)
    this.buf = this.buf.subarray(1 + len)
    return { type, body }
  }

  send (type, body) {
    const head = Buffer.alloc(type ? 5 : 4)
    if (type) head.write(type)
    head.writeInt32BE(body.length + 4, type ? 1 : 0)
    return this.writer.write(Buffer.concat([head, body]))
  }

  release () {
    this.reader.releaseLock()
    this.writer.releaseLock()
  }
}

const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest()

/** Startup with SCRAM-SHA-256 up to ReadyForQuery; returns the server's error, if any. */
async function startup (wire, user, password) {
  const params = Buffer.from(`user\0${user}\0database\0postgres\0\0`)
  const version = Buffer.alloc(4)
  version.writeInt32BE(196608)
  await wire.send('', Buffer.concat([version, params]))
  let clientFirstBare, serverFirst, nonce, expectedServerSig
  for (;;) {
    const { type, body } = await wire.message()
    if (type === 'E') return body.toString().split('\0').find((f) => f.startsWith('C')).slice(1)
    if (type === 'Z') return null
    if (type !== 'R') continue
    const code = body.readInt32BE(0)
    if (code === 10) { // AuthenticationSASL
      assert.match(body.subarray(4).toString(), /SCRAM-SHA-256/)
      nonce = crypto.randomBytes(18).toString('base64')
      clientFirstBare = `n=,r=${nonce}`
      const first = Buffer.from(`n,,${clientFirstBare}`)
      const len = Buffer.alloc(4)
      len.writeInt32BE(first.length)
      await wire.send('p', Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), len, first]))
    } else if (code === 11) { // SASLContinue
      serverFirst = body.subarray(4).toString()
      const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]))
      assert.ok(attrs.r.startsWith(nonce))
      const salted = crypto.pbkdf2Sync(password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 32, 'sha256')
      const clientKey = hmac(salted, 'Client Key')
      const storedKey = crypto.createHash('sha256').update(clientKey).digest()
      const finalWithoutProof = `c=biws,r=${attrs.r}`
      const authMessage = `${clientFirstBare},${serverFirst},${finalWithoutProof}`
      const signature = hmac(storedKey, authMessage)
      const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]))
      expectedServerSig = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')
      await wire.send('p', Buffer.from(`${finalWithoutProof},p=${proof.toString('base64')}`))
    } else if (code === 12) { // SASLFinal
      assert.equal(body.subarray(4).toString(), `v=${expectedServerSig}`)
    } else if (code !== 0) {
      throw new Error(`unexpected authentication request ${code}`)
    }
  }
}

/** SSLRequest on a 'starttls' socket; resolves to the TLS socket after 'S'. */
async function sslRequest (tlsOptions) {
  const socket = connect({ hostname: pg.host, port: pg.port }, { secureTransport: 'starttls' })
  const wire = new Wire(socket)
  const req = Buffer.alloc(8)
  req.writeInt32BE(8)
  req.writeInt32BE(80877103, 4)
  await wire.writer.write(req)
  assert.equal(String.fromCharCode(await wire.byte()), 'S')
  wire.release()
  return socket.startTls(tlsOptions)
}

test('PostgreSQL: SSLRequest, startTls({ ca }), verified certificate, SCRAM startup, a query', async (t) => {
  if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
  const secure = await sslRequest({ ca: pg.ca, expectedServerHostname: 'localhost' })
  const info = await secure.opened
  assert.equal(info.remoteAddress, `127.0.0.1:${pg.port}`)
  const wire = new Wire(secure)
  assert.equal(await startup(wire, pg.user, pg.password), null)
  const sql = Buffer.from("SELECT 'over ' || 'tls' AS v, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()\0")
  await wire.send('Q', sql)
  const rows = []
  for (;;) {
    const { type, body } = await wire.message()
    if (type === 'D') {
      const cols = []
      let off = 2
      for (let i = 0; i < body.readInt16BE(0); i++) {
        const len = body.readInt32BE(off)
        cols.push(body.subarray(off + 4, off + 4 + len).toString())
        off += 4 + len
      }
      rows.push(cols)
    }
    if (type === 'Z') break
  }
  assert.deepEqual(rows, [['over tls', 't']])
  await wire.send('X', Buffer.alloc(0))
  wire.release()
  await secure.close()
})

test('PostgreSQL: a wrong password is refused with 28P01 over TLS', async (t) => {
  if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
  const secure = await sslRequest({ ca: pg.ca, expectedServerHostname: 'localhost' })
  const wire = new Wire(secure)
  assert.equal(await startup(wire, pg.user, 'wrong password'), '28P01')
  wire.release()
  await secure.close()
})

test('PostgreSQL: the wrong CA fails the upgrade with a certificate error', async (t) => {
  if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
  const secure = await sslRequest({ ca: certs().otherCa, expectedServerHostname: 'localhost' })
  const err = await secure.opened.then(() => null, (e) => e)
  assert.ok(err instanceof SocketError)
  assert.equal(err.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
})
