'use strict'

// Hostile peers: one that floods without pause, one that trickles. Neither
// can make our memory grow without bound, and every byte arrives in order.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const { connect } = require('sockets-api')
const { listen, within } = require('./helpers')

const MB = 1024 * 1024
const BLOCK = crypto.randomBytes(MB)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

test('a peer sending 1 GiB without pause: memory stays bounded while we read slowly, then all of it arrives intact', async (t) => {
  const TOTAL = 1024 * MB
  let sent = 0
  const sentHash = crypto.createHash('sha256')
  const srv = await listen((sock) => {
    sock.on('error', () => {})
    // As fast as the connection takes it (the sender's own memory bounded).
    const pump = () => {
      while (sent < TOTAL) {
        sentHash.update(BLOCK)
        sent += BLOCK.length
        if (!sock.write(BLOCK)) return sock.once('drain', pump)
      }
      sock.end()
    }
    pump()
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  const reader = socket.readable.getReader()
  const hash = crypto.createHash('sha256')
  let got = 0
  global.gc?.()
  const rssBefore = process.memoryUsage().rss
  let rssPeak = rssBefore

  // One read every 10 ms for a second: the flood waits in the kernel's buffers.
  for (let i = 0; i < 100; i++) {
    const { value } = await reader.read()
    hash.update(value)
    got += value.byteLength
    await sleep(10)
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
  }
  const slowGrowth = rssPeak - rssBefore
  assert.ok(sent - got < 64 * MB, `${((sent - got) / MB).toFixed(1)} MB between sender and reader`)

  // Then everything, as fast as it comes.
  await within((async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      hash.update(value)
      got += value.byteLength
      if ((got & (64 * MB - 1)) < value.byteLength) rssPeak = Math.max(rssPeak, process.memoryUsage().rss)
    }
  })(), 60000, 'the 1 GiB download')
  assert.equal(got, TOTAL)
  assert.equal(hash.digest('hex'), sentHash.digest('hex'))
  assert.ok(slowGrowth < 48 * MB, `RSS grew ${(slowGrowth / MB).toFixed(1)} MB while reading slowly`)
  assert.ok(rssPeak - rssBefore < 128 * MB, `RSS grew ${((rssPeak - rssBefore) / MB).toFixed(1)} MB over 1 GiB`)
  t.diagnostic(`RSS ${(rssBefore / MB).toFixed(1)} MB before, peak ${(rssPeak / MB).toFixed(1)} MB`)
  await socket.closed
})

test('a peer that trickles one byte at a time: each read gets what is there, in order', async (t) => {
  const text = 'trickle-trickle-trickle-trickle!'
  const srv = await listen(async (sock) => {
    sock.on('error', () => {})
    for (const ch of text) {
      if (sock.destroyed) return
      sock.write(ch)
      await sleep(25)
    }
    sock.end()
  })
  t.after(() => srv.close())
  const socket = connect(`127.0.0.1:${srv.port}`)
  let received = ''
  let reads = 0
  const rssBefore = process.memoryUsage().rss
  for await (const chunk of socket.readable) {
    received += Buffer.from(chunk).toString()
    reads++
  }
  assert.equal(received, text)
  assert.ok(reads >= text.length / 2, `${reads} reads for ${text.length} trickled bytes`)
  assert.ok(process.memoryUsage().rss - rssBefore < 16 * MB)
  await socket.closed
})
