'use strict'

// Churn: many sockets over time and many at once, each exchange checked,
// and afterwards descriptors, native threads and native sockets back at the
// baseline, the JS heap back near it, and RSS not growing round over round.
// Each workload runs in a child process (fixtures/churn.js) so the figures
// are its own; they are printed as test diagnostics.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { runNode } = require('./helpers')

const MB = 1024 * 1024

async function churn (t, mode, count, rounds) {
  const script = path.join(__dirname, 'fixtures', 'churn.js')
  // A fixed, small young generation: V8 grows it in steps of many MB
  // (differently on each Node version), which would hide or fake a trend.
  const r = await runNode(['--expose-gc', '--max-semi-space-size=1', script, mode, String(count), String(rounds)],
    { timeout: 120000 })
  assert.equal(r.timedOut, false, 'the churn did not finish in time')
  assert.equal(r.code, 0, r.stderr)
  const report = JSON.parse(r.stdout)
  const { baseline, peak, afterRounds } = report
  t.diagnostic(`${mode} ${count} x ${rounds} in ${report.seconds} s: ` +
    `fds ${baseline.fds} -> peak ${peak.fds} -> ${afterRounds.map((a) => a.fds).join('/')}, ` +
    `threads ${baseline.threads} -> ${afterRounds.map((a) => a.threads).join('/')}, ` +
    `RSS MB ${(baseline.rss / MB).toFixed(1)} -> peak ${(peak.rss / MB).toFixed(1)} -> ` +
    `${afterRounds.map((a) => (a.rss / MB).toFixed(1)).join('/')}`)
  for (const [i, after] of afterRounds.entries()) {
    assert.equal(after.sockets, 0, `round ${i + 1}: native sockets left open`)
    assert.ok(after.fds <= baseline.fds, `round ${i + 1}: ${after.fds} descriptors, ${baseline.fds} before`)
    assert.equal(after.threads, baseline.threads, `round ${i + 1}: native threads`)
    assert.ok(after.heapUsed - baseline.heapUsed < 4 * MB,
      `round ${i + 1}: JS heap ${after.heapUsed} bytes, ${baseline.heapUsed} before`)
  }
  return report
}

test('10,000 sequential connect/exchange/close cycles leave nothing behind', async (t) => {
  const { afterRounds } = await churn(t, 'sequential', 2500, 4)
  // The allocators keep what the first round used; later rounds reuse it.
  const growth = afterRounds[3].rss - afterRounds[1].rss
  assert.ok(growth < 12 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB over 5,000 cycles`)
})

test('2,000 concurrent sockets exchanging data leave nothing behind', async (t) => {
  const { peak, afterRounds } = await churn(t, 'concurrent', 2000, 4)
  assert.ok(peak.sockets === 2000, `${peak.sockets} sockets were open at once`)
  // Two rounds after the first: a leak of whole sockets (tens of KB each)
  // would add 60 MB or more; the allocators' own wobble stays well under.
  const growth = afterRounds[3].rss - afterRounds[1].rss
  assert.ok(growth < 40 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB over rounds 3 and 4`)
})
