'use strict'

// The cross-runtime checks (runtimes/smoke.mjs) through the native entry
// under Node; .ci/run runs the same file under Bun.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { runNode } = require('./helpers')

test('the cross-runtime checks pass under Node', async () => {
  const r = await runNode([path.join(__dirname, 'runtimes', 'smoke.mjs')], { timeout: 60000 })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'ok')
})
