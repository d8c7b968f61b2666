'use strict'

// The hand-written types: `tsc --noEmit` over a usage file (with Node's
// types; each @ts-expect-error there must be an error) and over code written
// against the Workers types, where a sockets-api Socket must be accepted as
// the Workers `Socket`.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { runNode } = require('./helpers')

const tsc = require.resolve('typescript/bin/tsc')
const dir = path.join(__dirname, 'types')

async function typecheck (project) {
  const r = await runNode([tsc, '-p', path.join(dir, project)], { timeout: 120000 })
  assert.equal(r.timedOut, false)
  assert.equal(r.code, 0, r.stdout + r.stderr)
}

test('index.d.ts: a usage file type-checks with Node\'s types, and what must be refused is', async () => {
  await typecheck('tsconfig.json')
})

test('index.d.ts: a sockets-api Socket is assignable where the Workers Socket (@cloudflare/workers-types) is expected', async () => {
  await typecheck('tsconfig.workers.json')
})

test('register.d.ts: under the register hook, `cloudflare:sockets` has this package\'s types', async () => {
  await typecheck('tsconfig.register.json')
})
