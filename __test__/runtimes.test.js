'use strict'

// The cross-runtime suite (runtimes/checks.mjs): under Node through the
// native entry (runtimes/smoke.mjs; .ci/run runs the same file under Bun and
// Deno), and in workerd through the Workers entry, bundled as a Workers
// project would bundle a library that imports sockets-api.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { runNode, within } = require('./helpers')
const { startWorkerd, bundleForWorkers } = require('./workerd')

const CHECKS = 8 // runChecks's checks (smoke.mjs adds one of the native entry's own)

test('the cross-runtime suite passes under Node (native entry)', async () => {
  const r = await runNode([path.join(__dirname, 'runtimes', 'smoke.mjs')], { timeout: 60000 })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), `ok (${CHECKS + 1} checks)`)
})

test('the cross-runtime suite passes in workerd (Workers entry, the runtime\'s connect())', { timeout: 90000 }, async (t) => {
  const { startServers } = await import('./runtimes/servers.mjs')
  const servers = await startServers()
  t.after(() => servers.close())
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-runtimes-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const code = await bundleForWorkers(dir, path.join(__dirname, 'runtimes'), ['worker.mjs', 'checks.mjs'])
  assert.doesNotMatch(code, /binding\.js|NativeSocket/)
  const workerd = await startWorkerd(t, dir, ['worker.js'], servers.ca)
  const url = `${workerd.url}?ports=${encodeURIComponent(JSON.stringify(servers.ports))}`
  const res = await within(fetch(url), 60000, 'the worker')
  const text = await res.text()
  assert.equal(res.status, 200, `${text}\n${workerd.stderr()}`)
  assert.equal(text, `ok (${CHECKS} checks)`)
})
