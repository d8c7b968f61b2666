'use strict'

// The same scenarios (differential/scenarios.mjs) in workerd, Cloudflare's
// runtime and the reference implementation of this API (from npm), and
// through this package, against the same loopback peers. Where the two
// differ, the difference must be listed with its reason in
// differential/differences.json (and in docs/api.md): a new difference fails
// here until someone decides about it, and so does a listed one that is gone.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const tls = require('node:tls')
const http = require('node:http')
const { pathToFileURL } = require('node:url')
const { connect } = require('sockets-api')
const { certs } = require('./certs')
const { closedPort } = require('./helpers')
const { startWorkerd } = require('./workerd')

const C = certs()
// Both sides trust the test CA as their roots: workerd through its network
// service's trustedCertificates, Node through NODE_EXTRA_CA_CERTS (read at
// the first TLS connection), so the scenarios pass no `ca`.
process.env.NODE_EXTRA_CA_CERTS = require('./certs').tempFile('ca.pem', C.ca)
const here = path.join(__dirname, 'differential')
const differences = JSON.parse(fs.readFileSync(path.join(here, 'differences.json'), 'utf8'))

function listen (server) {
  server.on('error', () => {})
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
}

async function peers () {
  const servers = []
  const track = (server) => {
    const sockets = new Set()
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}) })
    servers.push({ server, sockets })
    return server
  }
  let recorded = ''
  const ports = {
    echo: await listen(track(net.createServer((s) => s.pipe(s)))),
    refused: await closedPort(),
    reset: await listen(track(net.createServer((s) => s.once('data', () => s.resetAndDestroy())))),
    fin: await listen(track(net.createServer((s) => s.end('bye')))),
    record: await listen(track(net.createServer((s) => {
      let got = ''
      s.on('data', (d) => { got += d })
      s.on('end', () => { recorded = got; s.end() })
    }))),
    recordLog: await listen(track(http.createServer((req, res) => res.end(recorded)))),
    tls: await listen(track(tls.createServer(C.server, (s) => { s.on('error', () => {}); s.pipe(s) }))),
    starttls: await listen(track(net.createServer(() => {}))),
    starttlsNow: await listen(track(net.createServer((s) => {
      const secure = new tls.TLSSocket(s, { isServer: true, ...C.server })
      secure.on('error', () => {})
      secure.pipe(secure)
    })))
  }
  const close = () => Promise.all(servers.map(({ server, sockets }) => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(() => resolve()))
  }))
  return { ports, close }
}

async function runInWorkerd (t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-workerd-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const f of ['worker.mjs', 'scenarios.mjs']) fs.copyFileSync(path.join(here, f), path.join(dir, f))
  const workerd = await startWorkerd(t, dir, ['worker.mjs', 'scenarios.mjs'], C.ca)
  return async (scenario, ports) => {
    const url = `${workerd.url}?scenario=${encodeURIComponent(scenario)}&ports=${encodeURIComponent(JSON.stringify(ports))}`
    const body = await (await fetch(url, { signal: AbortSignal.timeout(30000) })).json()
    if (body.failed) throw new Error(`in workerd: ${body.failed}\n${workerd.stderr()}`)
    return body.observed
  }
}

test('workerd and sockets-api behave alike, or differ only as listed', { timeout: 120000 }, async (t) => {
  const { scenarios } = await import(pathToFileURL(path.join(here, 'scenarios.mjs')).href)
  const { ports, close } = await peers()
  t.after(close)
  const inWorkerd = await runInWorkerd(t)
  // Every listed difference belongs to a scenario.
  for (const name of Object.keys(differences)) assert.ok(scenarios[name], `differences.json lists an unknown scenario: ${name}`)
  // SOCKETS_API_DIFF_DUMP=file writes every pair of observations there, to
  // review a change against differences.json.
  const observed = {}
  t.after(() => {
    if (process.env.SOCKETS_API_DIFF_DUMP) fs.writeFileSync(process.env.SOCKETS_API_DIFF_DUMP, JSON.stringify(observed, null, 2))
  })
  for (const name of Object.keys(scenarios)) {
    await t.test(name, async () => {
      const reference = await inWorkerd(name, ports)
      const ours = JSON.parse(JSON.stringify(await scenarios[name](connect, ports)))
      if (process.env.SOCKETS_API_DIFF_DUMP) observed[name] = { workerd: reference, 'sockets-api': ours }
      const listed = differences[name]
      if (listed === undefined) {
        assert.deepEqual(ours, reference, `a difference from workerd that differences.json does not list: ${name}`)
      } else {
        assert.notDeepEqual(ours, reference, `listed as a difference, but the two now agree: ${name}`)
        assert.deepEqual({ workerd: reference, 'sockets-api': ours }, { workerd: listed.workerd, 'sockets-api': listed['sockets-api'] },
          `the difference changed: ${name}`)
      }
    })
  }
})

test('docs/api.md lists every difference from workerd with its reason', () => {
  const api = fs.readFileSync(path.join(__dirname, '..', 'docs', 'api.md'), 'utf8')
  const section = api.split('## Differences from workerd')[1]
  assert.ok(section, 'docs/api.md has no "Differences from workerd" section')
  for (const [name, d] of Object.entries(differences)) {
    assert.ok(section.includes(`**${name}**`), `docs/api.md does not list ${name}`)
    assert.ok(section.includes(d.reason), `docs/api.md does not give the reason for ${name}`)
  }
})
