'use strict'

// Property: random data (0 B to 4 MiB), written in random pieces, re-chunked
// at random by a proxy, echoed back and read with default or BYOB readers
// of random sizes, arrives intact, plain and TLS. The seed is printed; set
// PROPERTY_SEED to replay a run.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { connect } = require('sockets-api')
const { faultProxy } = require('./fault-proxy')
const { certs } = require('./certs')
const { listen, listenTls, sha256, within, echoThrough, generator } = require('./helpers')

const C = certs()
const SEED = Number(process.env.PROPERTY_SEED || crypto.randomInt(2 ** 31))
const CASES = 10 // per combination of transport and reader


/** Sizes that matter: empty, tiny, around buffer sizes, and anything up to 4 MiB. */
function pickSize (rng) {
  const special = [0, 1, 2, 16383, 16384, 65535, 65536, 65537, 262144, 4 * 1024 * 1024]
  return rng.next() < 0.4 ? special[rng.int(0, special.length - 1)] : rng.int(0, 4 * 1024 * 1024)
}

function echoServer (secure) {
  const echo = (s) => s.pipe(s)
  return secure ? listenTls(C.server, echo) : listen(echo)
}

async function roundTrip (rng, port, secure, mode) {
  const payload = crypto.randomBytes(pickSize(rng))
  const socket = connect({ hostname: '127.0.0.1', port },
    secure ? { secureTransport: 'on', ca: C.ca, servername: 'localhost' } : {})
  const r = await echoThrough(socket, payload, mode, {
    maxWrite: rng.int(1, 300000),
    maxView: 200000,
    random: rng.next
  })
  await socket.closed
  return { size: payload.length, total: r.total, ok: r.digest === sha256(payload) }
}

for (const secure of [false, true]) {
  for (const mode of ['default', 'byob']) {
    test(`random chunkings arrive intact: ${secure ? 'TLS' : 'plain'}, ${mode} reader (seed ${SEED})`, async (t) => {
      const rng = generator(SEED ^ (secure ? 0x5eed : 0) ^ (mode === 'byob' ? 0xb10b : 0))
      const srv = await echoServer(secure)
      const proxy = await faultProxy({ port: srv.port }, {
        up: { chunk: rng.int(1, 70000) },
        down: { chunk: rng.int(1, 70000) }
      })
      t.after(async () => { await proxy.close(); await srv.close() })
      for (let i = 0; i < CASES; i++) {
        const r = await within(roundTrip(rng, proxy.port, secure, mode), 60000, `case ${i}`)
        assert.equal(r.total, r.size, `case ${i}: ${r.total} of ${r.size} bytes came back`)
        assert.ok(r.ok, `case ${i}: the ${r.size} bytes that came back differ from those sent`)
      }
    })
  }
}
