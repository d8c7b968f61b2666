'use strict'

// Generated calls of the whole public surface (fixtures/surface.js): every
// address form and option, with values of every JS type, empty strings, NUL
// bytes, huge and negative numbers, getters that throw. Each case either
// throws a clear TypeError/SocketError at once or behaves (its promises
// settle); none crashes, hangs or leaves an unhandled rejection. Batches run
// in child processes so that an abort is caught and named. The seed is
// printed; set SURFACE_SEED to replay a run.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const crypto = require('node:crypto')
const { runNode } = require('./helpers')

const SEED = Number(process.env.SURFACE_SEED || crypto.randomInt(2 ** 31))
const BATCHES = 4
const PER_BATCH = 150

for (let b = 0; b < BATCHES; b++) {
  test(`generated calls ${b * PER_BATCH}–${(b + 1) * PER_BATCH - 1} of the public surface: an error at once or settled promises, never a crash or hang (seed ${SEED})`, async () => {
    const r = await runNode([path.join(__dirname, 'fixtures', 'surface.js'), String(SEED), String(b * PER_BATCH), String(PER_BATCH)],
      { timeout: 60000 })
    const lines = r.stdout.trim().split('\n')
    const begun = lines.filter((l) => l.startsWith('case ')).pop()
    const bad = lines.find((l) => l.startsWith('bad '))
    assert.equal(bad, undefined, `${bad}\nin ${begun}`)
    assert.ok(!r.timedOut, `timed out in ${begun}`)
    assert.equal(r.signal, null, `${r.signal} in ${begun}\n${r.stderr.slice(-2000)}`)
    assert.equal(r.code, 0, `exit ${r.code} in ${begun}\n${r.stderr.slice(-2000)}`)
    assert.equal(lines[lines.length - 1], 'done')
    assert.equal(lines.filter((l) => l.startsWith('ok ')).length, PER_BATCH)
  })
}
