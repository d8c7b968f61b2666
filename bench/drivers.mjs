// One driver measurement in a fresh process, run by bench/run.mjs:
//   node [--conditions=workerd --import <cloudflare:sockets provider>] bench/drivers.mjs <driver> <workload> <amount> <config JSON>
// <driver>: pg or postgres. Over cloudflare:sockets (the Workers builds:
// pg through pg-cloudflare, postgres.js's workerd build) when run with the
// workerd condition and a provider of cloudflare:sockets (this package's
// register hook, or @arrowood.dev/socket for comparison); over node:net and
// node:tls otherwise. Prints { value, unit, cpu, cpuUnit } as JSON.

import { createRequire } from 'node:module'

const [driver, workload, amountText, configJson] = process.argv.slice(2)
const amount = Number(amountText)
const config = JSON.parse(configJson)
const tls = workload.startsWith('tls_')
const base = workload.replace(/^tls_/, '')
const workers = process.execArgv.some((a) => a.includes('workerd'))
const require = createRequire(import.meta.url)

if (workers) {
  // pg picks pg-cloudflare when it believes it runs on Workers.
  Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'Cloudflare-Workers' }, configurable: true })
}

// The CA comes from NODE_EXTRA_CA_CERTS (set by run.mjs): the Workers builds
// pass no `ca` of their own to connect().
const conn = { host: '127.0.0.1', port: config.port, user: config.user, password: config.password, database: 'postgres' }

async function client () {
  if (driver === 'pg') {
    const pg = require('pg')
    const c = new pg.Client({ ...conn, ssl: tls ? { servername: 'localhost', ca: config.ca } : false })
    await c.connect()
    return { query: (text, params) => c.query(text, params).then((r) => r.rows), end: () => c.end() }
  }
  const { default: postgres } = await import('postgres')
  const sql = postgres({ ...conn, ssl: tls ? { servername: 'localhost', ca: config.ca } : false, max: 1, onnotice: () => {} })
  return { query: (text, params) => sql.unsafe(text, params), end: () => sql.end() }
}

const cpuSince = (c0) => { const d = process.cpuUsage(c0); return (d.user + d.system) / 1000 }

async function measure (n, unit, run) {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  await run()
  const ms = performance.now() - t0
  return { value: (ms * 1000) / n, unit, cpu: (cpuSince(c0) * 1000) / n, cpuUnit: unit }
}

let result
if (base === 'queries') {
  // Sequential one-row queries on one connection: the round trip as a driver makes it.
  const c = await client()
  await c.query('select 1')
  result = await measure(amount, 'µs/query', async () => {
    for (let i = 0; i < amount; i++) await c.query('select $1::int as n', [i])
  })
  await c.end()
} else if (base === 'rows') {
  // One result of `amount` rows (about 50 bytes each).
  const c = await client()
  await c.query('select 1')
  const text = `select i, 'row number ' || i || ' of the result' as t from generate_series(1, ${amount}) i`
  result = await measure(1, 'ms/result', async () => {
    const rows = await c.query(text)
    if (rows.length !== amount) throw new Error(`got ${rows.length} rows`)
  })
  result.value /= 1000
  result.cpu /= 1000
  await c.end()
} else if (base === 'setup') {
  // A new connection (startup, authentication, TLS), one query, end.
  result = await measure(amount, 'µs/op', async () => {
    for (let i = 0; i < amount; i++) {
      const c = await client()
      await c.query('select 1')
      await c.end()
    }
  })
} else {
  throw new Error(`unknown workload ${workload}`)
}
result.maxRssMB = process.resourceUsage().maxRSS / 1024
console.log(JSON.stringify(result))
