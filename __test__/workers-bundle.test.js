'use strict'

// A library that imports sockets-api, bundled for Workers as wrangler does
// (esbuild with the workerd conditions) and run in workerd, Cloudflare's
// runtime (from npm): there the package is the runtime's own
// cloudflare:sockets, and no native code is in the bundle.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { certs } = require('./certs')
const { listen, listenTls, closedPort, within } = require('./helpers')
const { startWorkerd, bundleForWorkers } = require('./workerd')

const C = certs()
const root = path.join(__dirname, '..')

/** Bundles fixtures/workers-lib/worker.mjs as a Workers project would. */
function bundle (dir) {
  return bundleForWorkers(dir, path.join(__dirname, 'fixtures', 'workers-lib'), ['worker.mjs', 'lib.mjs'])
}

test('a library importing sockets-api, bundled for Workers, runs in workerd on the runtime\'s own connect()', { timeout: 60000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-workers-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const code = await bundle(dir)
  // The Workers entry, not the native one.
  assert.doesNotMatch(code, /binding\.js|\.node['"]|NativeSocket/)
  assert.match(code, /from\s*["']cloudflare:sockets["']/)

  const plain = await listen((s) => s.pipe(s))
  t.after(() => plain.close())
  const secure = await listenTls(C.server, (s) => s.pipe(s))
  t.after(() => secure.close())
  const refused = await closedPort()

  const workerd = await startWorkerd(t, dir, ['worker.js'], C.ca)

  const res = await within(fetch(`${workerd.url}?port=${plain.port}&tls=${secure.port}&refused=${refused}`), 30000, 'the worker')
  const text = await res.text()
  assert.equal(res.status, 200, `${text}\n${workerd.stderr()}`)
  const out = JSON.parse(text)
  assert.equal(out.plain.got, 'plain hello')
  assert.equal(out.byObject.got, 'object hello')
  assert.equal(out.tls.got, 'tls hello')
  assert.deepEqual([out.refused.failed, out.refused.socketError], [true, true])
  assert.deepEqual([out.invalid.failed, out.invalid.socketError], [true, true])
})

test('the package resolves for Workers without loading any native code', async () => {
  const pkg = require('../package.json')
  assert.equal(pkg.exports['.'].workerd, './workers.mjs')
  assert.equal(pkg.exports['.'].worker, './workers.mjs')
  const source = fs.readFileSync(path.join(root, 'workers.mjs'), 'utf8')
  assert.doesNotMatch(source, /require\(|binding/)
})
