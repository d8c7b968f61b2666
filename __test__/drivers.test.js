'use strict'

// Real PostgreSQL drivers in their Workers builds, running unchanged under
// Node through sockets-api/register, against a throwaway PostgreSQL 15 with
// TLS on (certificates from a CA generated for the run). The checks run in
// fixtures/drivers-pg.mjs; each line it prints is compared here.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { startPostgres, why } = require('./pg')
const { certs } = require('./certs')
const { runNode, within } = require('./helpers')

const FIXTURE = path.join(__dirname, 'fixtures', 'drivers-pg.mjs')
const NODE_ARGS = ['--conditions=workerd', '--import', 'sockets-api/register', FIXTURE]

let pg
let files
test.before(async () => {
  pg = await startPostgres()
  if (!pg) return
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-drivers-'))
  files = { dir, ca: path.join(dir, 'ca.pem'), wrongCa: path.join(dir, 'wrong-ca.pem') }
  fs.writeFileSync(files.ca, pg.ca)
  fs.writeFileSync(files.wrongCa, certs().otherCa)
})
test.after(() => {
  if (pg) pg.stop()
  if (files) fs.rmSync(files.dir, { recursive: true, force: true })
})

const config = () => JSON.stringify({ port: pg.port, user: pg.user, password: pg.password, ca: files.ca, wrongCa: files.wrongCa })
const lines = (stdout) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))

/** Runs a fixture mode; postgres.js finds the CA through NODE_EXTRA_CA_CERTS. */
async function fixture (mode, driver, { ca = files.ca } = {}) {
  const r = await runNode([...NODE_ARGS, mode, driver, config()], { timeout: 90000, env: { NODE_EXTRA_CA_CERTS: ca } })
  assert.equal(r.timedOut, false, `${driver} ${mode}: the process did not finish`)
  assert.equal(r.code, 0, r.stderr)
  return lines(r.stdout)
}

function expectedFeatures (driver, tls) {
  return {
    driver,
    tls,
    ...(driver === 'pg' ? { stream: 'CloudflareSocket' } : {}),
    param: 'param',
    ssl: tls,
    answer: 42,
    rows: 50000,
    rollback: true,
    copyIn: 200000,
    copyBytes: true,
    notify: `hello over ${tls ? 'TLS' : 'TCP'}`,
    pool: true,
    poolConnections: 10
  }
}

for (const driver of ['postgres', 'pg']) {
  const name = driver === 'postgres' ? 'postgres.js (workerd build)' : 'pg via pg-cloudflare'

  test(`${name}: parameters, 50,000 rows, rollback, COPY in, LISTEN/NOTIFY, a pool of 10 under 1,000 queries; plain and TLS`, async (t) => {
    if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
    assert.deepEqual(await fixture('features', driver), [expectedFeatures(driver, false), expectedFeatures(driver, true)])
  })

  test(`${name}: a wrong password is the driver's authentication error (28P01), plain and TLS`, async (t) => {
    if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
    assert.deepEqual(await fixture('wrong-password', driver), [
      { driver, tls: false, wrongPassword: '28P01' },
      { driver, tls: true, wrongPassword: '28P01' }
    ])
  })

  test(`${name}: TLS against the wrong CA is a certificate error`, async (t) => {
    if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
    assert.deepEqual(await fixture('wrong-ca', driver, { ca: files.wrongCa }), [
      { driver, wrongCa: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }
    ])
  })

  test(`${name}: the server restarted mid-session: errors surface, nothing hangs, the next connection works`, async (t) => {
    if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
    const child = spawn(process.execPath, [...NODE_ARGS, 'restart', driver, config()], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, NODE_EXTRA_CA_CERTS: files.ca },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    t.after(() => child.kill('SIGKILL'))
    let stdout = ''
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.stdout.on('data', (d) => {
      stdout += d
      // Each "ready" line: restart the server, then let the fixture go on.
      const ready = lines(stdout).filter((l) => l.phase === 'ready').length
      if (ready > child.restarts) {
        child.restarts++
        pg.restart()
        child.stdin.write('go\n')
      }
    })
    child.restarts = 0
    const code = await within(exited, 90000, 'the fixture')
    assert.equal(code, 0, stderr)
    const report = lines(stdout)
    assert.equal(child.restarts, 2)
    for (const tls of [false, true]) {
      const ready = report.find((l) => l.tls === tls && l.phase === 'ready')
      const after = report.find((l) => l.tls === tls && l.phase === undefined)
      assert.equal(ready.before, 1)
      assert.ok(after, `no result after the restart (tls: ${tls})`)
      if (driver === 'pg') {
        // pg's client does not reconnect: its query fails, and a new client works.
        assert.equal(after.during, 'error')
        assert.equal(after.after, 3)
      } else {
        // postgres.js reconnects: the query either fails with a connection
        // error or succeeds on a new connection; the one after succeeds.
        assert.ok(after.during === 2 || /^(CONNECTION_|ECONNRESET|57P01)/.test(after.during), String(after.during))
        assert.equal(after.after, 3)
      }
    }
  })
}
