'use strict'

// Real PostgreSQL drivers in their Workers builds, running unchanged under
// Node through sockets-api/register, against a throwaway PostgreSQL.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { startPostgres, why } = require('./pg')
const { certs } = require('./certs')
const { runNode } = require('./helpers')

let pg
test.before(async () => { pg = await startPostgres() })
test.after(() => pg && pg.stop())

function runFixture (args, env) {
  return runNode([
    '--conditions=workerd', '--import', 'sockets-api/register',
    path.join(__dirname, 'fixtures', 'drivers-pg.mjs'), ...args
  ], { timeout: 60000, env })
}

test('postgres.js (workerd build) and pg via pg-cloudflare work over cloudflare:sockets, plain and TLS', async (t) => {
  if (!pg) return t.skip(`PostgreSQL not available: ${why.reason}`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-drivers-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const caFile = path.join(dir, 'ca.pem')
  const wrongCaFile = path.join(dir, 'wrong-ca.pem')
  fs.writeFileSync(caFile, pg.ca)
  fs.writeFileSync(wrongCaFile, certs().otherCa)
  const r = await runFixture([String(pg.port), pg.user, pg.password, caFile, wrongCaFile],
    { NODE_EXTRA_CA_CERTS: caFile })
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  assert.deepEqual(lines, [
    { driver: 'postgres', tls: false, v: 'param', ssl: false, rows: 50000 },
    { driver: 'postgres', tls: true, v: 'param', ssl: true, rows: 50000 },
    { driver: 'pg', stream: 'CloudflareSocket' },
    { driver: 'pg', tls: false, v: 'param', ssl: false },
    { driver: 'pg', tls: true, v: 'param', ssl: true },
    { driver: 'pg', wrongCa: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }
  ])
})
