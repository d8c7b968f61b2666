'use strict'

// worker_threads and garbage collection: sockets in many workers at once,
// workers terminated with reads pending, and sockets dropped without close().
// Each case runs in a child process with a time limit and reports JSON.

const test = require('node:test')
const assert = require('node:assert/strict')
const { runScript } = require('./helpers')

test('8 workers with 50 sockets each exchange data; terminating them with reads pending leaves nothing open', async () => {
  const r = await runScript(`
    const net = require('node:net')
    const fs = require('node:fs')
    const { Worker } = require('node:worker_threads')
    const { connect } = require('sockets-api')
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const threads = () => Number(/Threads:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])

    const workerSource = \`
      const { parentPort, workerData } = require('node:worker_threads')
      const crypto = require('node:crypto')
      const { connect } = require(workerData.entry)
      ;(async () => {
        const sockets = []
        for (let i = 0; i < 50; i++) sockets.push(connect({ hostname: '127.0.0.1', port: workerData.port }))
        let ok = 0
        await Promise.all(sockets.map(async (s) => {
          const payload = crypto.randomBytes(4096)
          const w = s.writable.getWriter()
          const reader = s.readable.getReader()
          await w.write(payload)
          const chunks = []
          let got = 0
          while (got < payload.length) {
            const { value } = await reader.read()
            chunks.push(value)
            got += value.byteLength
          }
          if (Buffer.concat(chunks).equals(payload)) ok++
          w.releaseLock()
          // A read left pending: the server never sends more.
          reader.read().catch(() => {})
        }))
        parentPort.postMessage({ ok })
      })()
    \`

    ;(async () => {
      const live = new Set()
      let accepted = 0
      // Echoes every byte; a pending read on our side waits for more.
      const server = net.createServer((s) => {
        accepted++
        live.add(s)
        s.on('close', () => live.delete(s))
        s.on('error', () => {})
        s.on('data', (d) => s.write(d))
      })
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
      // Warm the main thread's runtime first so the baseline includes it.
      const warm = connect({ hostname: '127.0.0.1', port: server.address().port })
      await warm.opened
      await warm.close()
      await new Promise((resolve) => setTimeout(resolve, 100))
      const before = { fds: fds(), threads: threads() }

      const workers = []
      const results = []
      for (let i = 0; i < 8; i++) {
        const w = new Worker(workerSource, { eval: true, workerData: { port: server.address().port, entry: require.resolve('sockets-api') } })
        workers.push(w)
        results.push(new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject) }))
      }
      const done = await Promise.all(results)
      const openDuring = live.size

      // The main thread keeps working while the workers are torn down.
      const mainSocket = connect({ hostname: '127.0.0.1', port: server.address().port })
      const terminating = Promise.all(workers.map((w) => w.terminate()))
      const mw = mainSocket.writable.getWriter()
      await mw.write('main thread still works')
      const { value } = await mainSocket.readable.getReader().read()
      const mainEcho = Buffer.from(value).toString()
      await terminating
      await mainSocket.close()

      // Every connection a worker made is closed: the server sees each end.
      for (let i = 0; i < 100 && live.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
      const after = { fds: fds(), threads: threads() }
      server.close()
      console.log(JSON.stringify({ ok: done.map((d) => d.ok), accepted, openDuring, leftOpen: live.size, mainEcho, before, after }))
    })()
  `, { timeout: 60000 })
  assert.equal(r.timedOut, false, 'the process did not exit by itself')
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  assert.deepEqual(report.ok, Array(8).fill(50), 'every exchange in every worker came back intact')
  assert.equal(report.openDuring, 400)
  assert.equal(report.leftOpen, 0, 'connections of terminated workers stayed open')
  assert.equal(report.mainEcho, 'main thread still works')
  assert.ok(report.after.fds <= report.before.fds, `descriptors ${report.before.fds} -> ${report.after.fds}`)
  assert.ok(report.after.threads <= report.before.threads, `threads ${report.before.threads} -> ${report.after.threads}`)
})

test('sockets dropped without close() live on as node:net sockets do, and leave nothing once the peer ends them', async () => {
  const r = await runScript(`
    const net = require('node:net')
    const fs = require('node:fs')
    const { connect } = require('sockets-api')
    const { openSocketCount } = require('./binding.js')
    const fds = () => fs.readdirSync('/proc/self/fd').length
    const collect = async () => {
      for (let i = 0; i < 5; i++) { global.gc(); await new Promise((resolve) => setTimeout(resolve, 20)) }
    }
    ;(async () => {
      const live = new Set()
      const server = net.createServer((s) => {
        live.add(s)
        s.resume() // reads (and drops) what the sockets send
        s.on('close', () => live.delete(s))
        s.on('error', () => {})
      })
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
      const port = server.address().port
      const warm = connect({ hostname: '127.0.0.1', port })
      await warm.opened
      await warm.close()
      await collect()
      const before = fds()

      // 100 sockets, opened and then let go: no reference is kept, some
      // with data waiting unread, some with a write done.
      await (async () => {
        const sockets = []
        for (let i = 0; i < 100; i++) sockets.push(connect({ hostname: '127.0.0.1', port }))
        await Promise.all(sockets.map((s) => s.opened))
        for (const [i, s] of sockets.entries()) if (i % 2) await s.writable.getWriter().write('x')
      })()
      while (live.size < 100) await new Promise((resolve) => setTimeout(resolve, 10))
      for (const s of live) s.write('unread data')
      await collect()
      await new Promise((resolve) => setTimeout(resolve, 200))
      await collect()
      const aliveAfterGc = { server: live.size, native: openSocketCount() }

      // The peer ends them: each is noticed and released.
      for (const s of live) s.end()
      for (let i = 0; i < 200 && (openSocketCount() > 0 || live.size > 0); i++) await new Promise((resolve) => setTimeout(resolve, 10))
      await collect()
      const after = { server: live.size, native: openSocketCount(), fds: fds() }
      server.close()
      console.log(JSON.stringify({ aliveAfterGc, after, before }))
    })()
  `, { timeout: 30000, args: ['--expose-gc'] })
  assert.equal(r.timedOut, false, 'the process did not exit by itself')
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  assert.deepEqual(report.aliveAfterGc, { server: 100, native: 100 }, 'collection closed sockets that were still open')
  assert.equal(report.after.native, 0, 'sockets ended by the peer were not released')
  assert.equal(report.after.server, 0)
  assert.ok(report.after.fds <= report.before, `descriptors ${report.before} -> ${report.after.fds}`)
})
