'use strict'

// A Redis client written for cloudflare:sockets (redis-on-workers) running
// unchanged under Node through sockets-api/register, against a real
// redis-server on loopback.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { startRedis, why } = require('./redis')
const { runNode } = require('./helpers')

let redis
test.before(async () => { redis = await startRedis() })
test.after(() => redis && redis.stop())

test('redis-on-workers: large values and commands; pipelining and pub/sub over cloudflare:sockets', async (t) => {
  if (!redis) return t.skip(`Redis not available: ${why.reason}`)
  const r = await runNode(['--import', 'sockets-api/register', path.join(__dirname, 'fixtures', 'redis.mjs'), String(redis.port)],
    { timeout: 60000 })
  assert.equal(r.timedOut, false, 'the fixture did not finish')
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(lines, [
    { check: 'large value', size: 1024 * 1024, same: true },
    { check: 'large value', size: 16 * 1024 * 1024, same: true },
    { check: 'incr', last: 200 },
    { check: 'pipelining', ok: true, values: true },
    {
      check: 'pubsub',
      confirmations: [['subscribe', 'news', 1], ['subscribe', 'alerts', 2]],
      receivers: [1, 1, 0],
      messages: [['message', 'news', 'hello'], ['message', 'alerts', 'fire drill']]
    }
  ])
})
