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
const { spawn } = require('node:child_process')
const esbuild = require('esbuild')
const workerdBinary = require('workerd').default
const { certs } = require('./certs')
const { listen, listenTls, closedPort, freePort, within } = require('./helpers')

const C = certs()
const root = path.join(__dirname, '..')

/** Bundles fixtures/workers-lib/worker.mjs as a Workers project would. */
async function bundle (dir) {
  fs.mkdirSync(path.join(dir, 'src'))
  for (const f of ['lib.mjs', 'worker.mjs']) {
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'workers-lib', f), path.join(dir, 'src', f))
  }
  // The library's dependency, installed as npm would (a link to this package).
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'sockets-api'), 'dir')
  const outfile = path.join(dir, 'worker.js')
  await esbuild.build({
    entryPoints: [path.join(dir, 'src', 'worker.mjs')],
    absWorkingDir: dir,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    // What wrangler sets for Workers.
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*'],
    outfile,
    logLevel: 'silent'
  })
  return fs.readFileSync(outfile, 'utf8')
}

function config (port) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"], tlsOptions = (trustedCertificates = [embed "ca.pem"]))),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
  globalOutbound = "loopback",
);
`
}

async function waitForHttp (port, child) {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`)
    try {
      await fetch(`http://127.0.0.1:${port}/health-check-never-connects`, { method: 'HEAD', signal: AbortSignal.timeout(500) })
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error('workerd did not start')
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

  fs.writeFileSync(path.join(dir, 'ca.pem'), C.ca)
  const port = await freePort()
  fs.writeFileSync(path.join(dir, 'config.capnp'), config(port))
  let stderr = ''
  const child = spawn(workerdBinary, ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  child.stderr.on('data', (d) => { stderr += d })
  t.after(() => child.kill('SIGKILL'))
  await waitForHttp(port, child)

  const res = await within(fetch(`http://127.0.0.1:${port}/?port=${plain.port}&tls=${secure.port}&refused=${refused}`), 30000, 'the worker')
  const text = await res.text()
  assert.equal(res.status, 200, `${text}\n${stderr}`)
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
