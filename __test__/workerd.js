'use strict'

// workerd (Cloudflare's runtime, from npm) serving the modules in `dir` on
// loopback: a config written for it, whose outbound network reaches loopback
// only and trusts the test CA (`ca.pem`, written here too).

const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const workerdBinary = require('workerd').default
const esbuild = require('esbuild')
const { freePort } = require('./helpers')

const root = path.join(__dirname, '..')

/**
 * Bundles `files` (from `from`; the first is the entry) into `dir` as a
 * Workers project would: this package installed as a dependency (a link),
 * esbuild with the conditions wrangler sets. Resolves to the bundle's text,
 * written to `dir/worker.js`.
 */
async function bundleForWorkers (dir, from, files) {
  fs.mkdirSync(path.join(dir, 'src'))
  for (const f of files) fs.copyFileSync(path.join(from, f), path.join(dir, 'src', f))
  fs.mkdirSync(path.join(dir, 'node_modules'))
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'sockets-api'), 'dir')
  const outfile = path.join(dir, 'worker.js')
  await esbuild.build({
    entryPoints: [path.join(dir, 'src', files[0])],
    absWorkingDir: dir,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*'],
    outfile,
    logLevel: 'silent'
  })
  return fs.readFileSync(outfile, 'utf8')
}

function config (port, modules) {
  const list = modules.map((m) => `    (name = "${m}", esModule = embed "${m}"),`).join('\n')
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "loopback", network = (allow = ["local"], tlsOptions = (trustedCertificates = [embed "ca.pem"]))),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
${list}
  ],
  compatibilityDate = "2024-09-23",
  globalOutbound = "loopback",
);
`
}

/**
 * Starts workerd on the ES modules `modules` (the first is the entry) found
 * in `dir`; stopped when the test ends. Resolves to { url, stderr() }.
 */
async function startWorkerd (t, dir, modules, caPem) {
  fs.writeFileSync(path.join(dir, 'ca.pem'), caPem)
  const port = await freePort()
  fs.writeFileSync(path.join(dir, 'config.capnp'), config(port, modules))
  const child = spawn(workerdBinary, ['serve', 'config.capnp'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  t.after(() => child.kill('SIGKILL'))
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 100) throw new Error(`workerd did not start: ${stderr}`)
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (up) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { url: `http://127.0.0.1:${port}/`, stderr: () => stderr }
}

module.exports = { startWorkerd, bundleForWorkers }
