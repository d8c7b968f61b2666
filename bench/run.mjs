// npm run bench [-- --quick] [-- --only download,pingpong]
//
// Runs every workload of docs/design.md's benchmark table against a native
// peer (bench/peer, Rust, std threads) for each implementation, alternating
// implementations within each round, one fresh process per measurement.
// Prints a markdown table of medians with the ratio to node:net / node:tls
// in the same run, and writes it to bench/results.md.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const require = createRequire(import.meta.url)
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const onlyArg = args.find((a) => a.startsWith('--only='))
const only = onlyArg ? onlyArg.slice(7).split(',') : null

const MB = 1 << 20
// name, amount (full, quick), rounds (full, quick), implementations, baseline, higher-is-better
const WORKLOADS = [
  ['download', [1024 * MB, 64 * MB], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', true],
  ['upload', [512 * MB, 64 * MB], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', true],
  ['pingpong', [20000, 2000], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', false],
  ['connect', [2000, 200], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', false],
  ['tls_download', [1024 * MB, 64 * MB], [5, 3], ['sockets-api', 'tls', 'toWeb'], 'tls', true],
  ['tls_pingpong', [20000, 2000], [5, 3], ['sockets-api', 'tls', 'toWeb'], 'tls', false],
  ['tls_connect', [500, 100], [5, 3], ['sockets-api', 'tls', 'toWeb'], 'tls', false],
  // the same, trusting the CA through NODE_EXTRA_CA_CERTS (the system's roots
  // plus it), and with a client certificate the server requires
  ['tls_connect_env', [500, 100], [5, 3], ['sockets-api', 'tls'], 'tls', false],
  ['tls_connect_cert', [500, 100], [5, 3], ['sockets-api', 'tls'], 'tls', false],
  // sockets-api resumes its sessions here; the baseline is node:tls's full
  // handshake, and node:tls reusing its session (as https.Agent) is shown
  ['tls_reconnect', [500, 100], [5, 3], ['sockets-api', 'tls', 'tlsResumed'], 'tls', false],
  // amount: sockets open at once (opened at most 1,000 at a time), each
  // exchanging 64 B (RSS column: the cost)
  ['held', [5000, 1000], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', false],
  // amount: sockets; each exchanges ROUNDS 1 KiB messages (fewer when quick)
  ['concurrent', [1000, 1000], [5, 3], ['sockets-api', 'net', 'toWeb', 'arrowood'], 'net', true]
]
// The drivers over a real PostgreSQL (bench/drivers.mjs): each in its
// Workers build over this package (cloudflare:sockets through the register
// hook), over @arrowood.dev/socket (the same adapter over a node:net-based
// cloudflare:sockets: what the adapter itself costs), and on node:net /
// node:tls (the baseline).
const DRIVER_WORKLOADS = [
  ['queries', [500, 200], (n) => `${n.toLocaleString('en-US')} sequential queries`],
  ['rows', [100000, 100000], (n) => `a ${n.toLocaleString('en-US')}-row result`],
  ['setup', [200, 50], (n) => `connect + query + end ×${n}`]
]
const DRIVERS = { pg: 'pg', postgres: 'postgres.js' }

const LABEL = {
  'sockets-api': 'sockets-api',
  net: 'node:net (callbacks)',
  tls: 'node:tls (callbacks)',
  tlsResumed: 'node:tls, session reused',
  'pg-sockets-api': 'pg (pg-cloudflare) on sockets-api',
  'pg-arrowood': 'pg (pg-cloudflare) on @arrowood.dev/socket',
  'pg-net': 'pg on node:net / node:tls',
  'postgres-sockets-api': 'postgres.js (workerd build) on sockets-api',
  'postgres-arrowood': 'postgres.js (workerd build) on @arrowood.dev/socket',
  'postgres-net': 'postgres.js on node:net / node:tls',
  toWeb: 'Duplex.toWeb',
  arrowood: '@arrowood.dev/socket'
}
const size = (n) => n >= 1024 * MB ? `${n / 1024 / MB} GiB` : `${n / MB} MiB`
const TITLES = {
  download: (n) => `download ${size(n)}`,
  upload: (n) => `upload ${size(n)} (64 KiB writes)`,
  pingpong: (n) => `pingpong 64 B ×${n}`,
  connect: (n) => `connect + close ×${n}`,
  tls_download: (n) => `TLS download ${size(n)}`,
  tls_pingpong: (n) => `TLS pingpong 64 B ×${n}`,
  tls_connect: (n) => `TLS connect + close ×${n}`,
  tls_connect_env: (n) => `TLS connect + close ×${n}, NODE_EXTRA_CA_CERTS`,
  tls_connect_cert: (n) => `TLS connect + close ×${n}, client certificate`,
  tls_reconnect: (n) => `TLS reconnect (resumed) + 64 B ×${n}`,
  held: (n) => `${n.toLocaleString('en-US')} sockets held`,
  concurrent: (n) => `${n} concurrent echo sockets`
}
const TITLE = {}
const TIMEOUT_MS = 120000

function buildPeer () {
  const r = spawnSync('cargo', ['build', '--release', '-q', '-p', 'bench-peer'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error('building bench-peer failed')
  return path.join(root, 'target', 'release', process.platform === 'win32' ? 'bench-peer.exe' : 'bench-peer')
}

async function startPeer (bin, certFile, keyFile, caFile) {
  const child = spawn(bin, [certFile, keyFile, caFile], { stdio: ['pipe', 'pipe', 'inherit'] })
  const line = await new Promise((resolve, reject) => {
    child.on('error', reject)
    child.stdout.once('data', (d) => resolve(String(d)))
  })
  return { ports: JSON.parse(line), stop: () => child.stdin.end() }
}

/** Runs `node <args>` and resolves to the JSON of its last stdout line, or { failed }. */
function runChild (args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS)
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) {
        try { return resolve(JSON.parse(out.trim().split('\n').pop())) } catch {}
      }
      resolve({ failed: code === null ? 'timed out (hang)' : (err.trim().split('\n').pop() || `exit ${code}`) })
    })
  })
}

function measure (impl, workload, port, amount, caFile, clientFile) {
  const args = [path.join(here, 'workload.mjs'), impl, workload, String(port), String(amount), caFile]
  if (workload === 'tls_connect_cert') args.push(clientFile)
  return runChild(args, { BENCH_ROUNDS: quick ? '5' : '20', ...(workload === 'tls_connect_env' ? { NODE_EXTRA_CA_CERTS: caFile } : {}) })
}

/** One driver measurement in a fresh process (bench/drivers.mjs). */
function measureDriver (impl, workload, amount, pg, caFile) {
  const [driver, over] = impl.split(/-(.*)/s)
  const args = over === 'net'
    ? []
    : ['--conditions=workerd', '--import', over === 'arrowood' ? path.join(here, 'arrowood-sockets.mjs') : 'sockets-api/register']
  const config = JSON.stringify({ port: pg.port, user: pg.user, password: pg.password, ca: pg.ca })
  return runChild([...args, path.join(here, 'drivers.mjs'), driver, workload, String(amount), config],
    { NODE_EXTRA_CA_CERTS: caFile })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

function fmt (v) {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

const COLORS = {
  'sockets-api': '#f38020',
  net: '#5b8def',
  tls: '#5b8def',
  toWeb: '#9aa0a6',
  arrowood: '#b39ddb',
  tlsResumed: '#2e7d32'
}

const esc = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** A bar chart of the ratios (1.0 = node:net / node:tls), as SVG text. */
function chart (rows, subtitle) {
  const left = 230
  const scaleMax = 2
  const width = 760
  const barH = 13
  const plotW = width - left - 70
  const x = (v) => left + Math.min(v, scaleMax) / scaleMax * plotW
  const parts = []
  let y = 48
  let group = null
  for (const r of rows) {
    if (r.workload !== group) {
      group = r.workload
      y += 10
      parts.push(`<text x="8" y="${y + 10}" font-weight="bold">${esc(TITLE[r.workload])}</text>`)
      y += 16
    }
    parts.push(`<text x="${left - 6}" y="${y + 10}" text-anchor="end">${esc(LABEL[r.impl])}</text>`)
    if (r.failed) {
      parts.push(`<text x="${left + 4}" y="${y + 10}" fill="#c00">failed: ${esc(r.failed)}</text>`)
    } else {
      parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(r.ratio) - left).toFixed(1)}" height="${barH}" fill="${COLORS[r.impl]}"/>`)
      parts.push(`<text x="${(x(r.ratio) + 4).toFixed(1)}" y="${y + 10}">${r.ratio.toFixed(2)}x${r.ratio > scaleMax ? ' →' : ''}</text>`)
    }
    y += barH + 3
  }
  const height = y + 30
  const one = x(1)
  const ticks = [0, 0.5, 1, 1.5, 2].map((v) =>
    `<line x1="${x(v)}" y1="40" x2="${x(v)}" y2="${height - 24}" stroke="#ddd"/><text x="${x(v)}" y="${height - 10}" text-anchor="middle">${v}x</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="8" y="18" font-size="14" font-weight="bold">Ratio to node:net / node:tls in the same run (higher is better)</text>
<text x="8" y="34" fill="#555">${esc(subtitle)}</text>
${ticks.join('\n')}
<line x1="${one}" y1="40" x2="${one}" y2="${height - 24}" stroke="#333" stroke-dasharray="4 3"/>
${parts.join('\n')}
</svg>
`
}

/**
 * Measures `impls` on workload `name`, `rounds` times in alternating order,
 * and adds their medians and ratios to `rows`.
 */
async function compare (rows, name, rounds, impls, baseline, higherIsBetter, measureOne) {
  const results = Object.fromEntries(impls.map((i) => [i, []]))
  for (let round = 0; round < rounds; round++) {
    // Alternate the order each round (A B C, C B A, ...).
    const order = round % 2 ? [...impls].reverse() : impls
    for (const impl of order) {
      const r = await measureOne(impl)
      results[impl].push(r)
      process.stderr.write(`${name} ${impl}: ${r.failed ? `FAILED ${r.failed}` : `${fmt(r.value)} ${r.unit}, CPU ${fmt(r.cpu)} ${r.cpuUnit}, ${fmt(r.maxRssMB)} MB RSS`}\n`)
    }
  }
  const summary = {}
  for (const impl of impls) {
    const ok = results[impl].filter((r) => !r.failed)
    summary[impl] = ok.length === 0
      ? { failed: results[impl][0].failed }
      : {
          value: median(ok.map((r) => r.value)),
          unit: ok[0].unit,
          cpu: median(ok.map((r) => r.cpu)),
          cpuUnit: ok[0].cpuUnit,
          rss: median(ok.map((r) => r.maxRssMB))
        }
  }
  const base = summary[baseline]
  for (const impl of impls) {
    const s = summary[impl]
    let ratio = ''
    if (!s.failed && !base.failed) {
      ratio = higherIsBetter ? s.value / base.value : base.value / s.value
    }
    // CPU per unit of work: lower is better, so the ratio is baseline / ours.
    const cpuRatio = s.failed || base.failed ? '' : base.cpu / s.cpu
    rows.push({ workload: name, impl, ...s, ratio, cpuRatio, rssRatio: s.failed || base.failed ? '' : s.rss / base.rss })
  }
}

/** The driver rows, against a PostgreSQL started here (skipped, and said so, without one). */
async function driverRows (rows, dir) {
  const names = DRIVER_WORKLOADS.flatMap(([w]) => Object.keys(DRIVERS).flatMap((d) => [`${d}_${w}`, `${d}_tls_${w}`]))
  if (only && !names.some((n) => only.includes(n)) && !only.includes('drivers')) return
  const { startPostgres, why } = require(path.join(root, '__test__', 'pg.js'))
  const pg = await startPostgres()
  if (!pg) {
    process.stderr.write(`driver rows skipped: ${why.reason}\n`)
    return
  }
  // The server's CA, for the Workers builds through NODE_EXTRA_CA_CERTS.
  const caFile = path.join(dir, 'pg-ca.pem')
  fs.writeFileSync(caFile, pg.ca)
  try {
    for (const [workload, amounts, title] of DRIVER_WORKLOADS) {
      for (const driver of Object.keys(DRIVERS)) {
        for (const tls of [false, true]) {
          const name = `${driver}_${tls ? 'tls_' : ''}${workload}`
          if (only && !only.includes(name) && !only.includes('drivers')) continue
          const amount = quick ? amounts[1] : amounts[0]
          TITLE[name] = `${DRIVERS[driver]}${tls ? ' TLS' : ''}: ${title(amount)}`
          // postgres.js's Workers build hangs in its TLS upgrade over
          // @arrowood.dev/socket, so its TLS rows leave that one out.
          const impls = driver === 'postgres' && tls
            ? [`${driver}-sockets-api`, `${driver}-net`]
            : [`${driver}-sockets-api`, `${driver}-net`, `${driver}-arrowood`]
          await compare(rows, name, quick ? 3 : 5, impls, `${driver}-net`, false,
            (impl) => measureDriver(impl, `${tls ? 'tls_' : ''}${workload}`, amount, pg, caFile))
        }
      }
    }
  } finally {
    pg.stop()
  }
}

async function main () {
  const { certs } = require(path.join(root, '__test__', 'certs.js'))
  const C = certs()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-bench-'))
  const certFile = path.join(dir, 'server.pem')
  const keyFile = path.join(dir, 'server.key')
  const caFile = path.join(dir, 'ca.pem')
  fs.writeFileSync(certFile, C.server.cert)
  fs.writeFileSync(keyFile, C.server.key)
  fs.writeFileSync(caFile, C.ca)
  // The client certificate, for the row with one.
  const clientFile = path.join(dir, 'client.json')
  fs.writeFileSync(clientFile, JSON.stringify(C.client))
  const peer = await startPeer(buildPeer(), certFile, keyFile, caFile)
  const rows = []
  try {
    for (const [name, amounts, roundsBy, impls, baseline, higherIsBetter] of WORKLOADS) {
      if (only && !only.includes(name)) continue
      const amount = quick ? amounts[1] : amounts[0]
      TITLE[name] = TITLES[name](amount)
      const rounds = quick ? roundsBy[1] : roundsBy[0]
      const port = peer.ports[{ concurrent: 'echo', pingpong: 'echo', connect: 'echo', tls_pingpong: 'tls_echo', tls_connect: 'tls_echo', tls_connect_env: 'tls_echo', tls_connect_cert: 'mtls_echo', tls_reconnect: 'tls_echo', held: 'echo' }[name] || name]
      await compare(rows, name, rounds, impls, baseline, higherIsBetter,
        (impl) => measure(impl, name, port, amount, caFile, clientFile))
    }
    await driverRows(rows, dir)
  } finally {
    peer.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const lines = [
    `Node ${process.version}, ${os.cpus().length} cores, ${quick ? 'quick run' : 'full run'}, ${new Date().toISOString().slice(0, 10)}.`,
    'Medians of alternating runs; ratio > 1 is better than the node:net / node:tls baseline of the same run',
    '(for pingpong and connect: baseline time / time). CPU: user + system time of the measuring',
    'process per unit of work (process.cpuUsage()), its ratio baseline CPU / CPU. RSS: peak of the',
    'measuring process.',
    '',
    '| workload | implementation | median | ratio | CPU | CPU ratio | peak RSS (MB) | RSS ratio |',
    '|---|---|---|---|---|---|---|---|'
  ]
  for (const r of rows) {
    lines.push(r.failed
      ? `| ${TITLE[r.workload]} | ${LABEL[r.impl]} | failed: ${r.failed} | | | | | |`
      : `| ${TITLE[r.workload]} | ${LABEL[r.impl]} | ${fmt(r.value)} ${r.unit} | ${fmt(r.ratio)}x | ${fmt(r.cpu)} ${r.cpuUnit} | ${fmt(r.cpuRatio)}x | ${fmt(r.rss)} | ${fmt(r.rssRatio)}x |`)
  }
  const table = lines.join('\n') + '\n'
  process.stdout.write('\n' + table)
  // Only a full run of every workload replaces the published results (the
  // README's table and chart come from bench/results.md and ratios.svg).
  if (only) {
    process.stdout.write('\n(--only: bench/results.md and ratios.svg left as they are)\n')
    return
  }
  const name = quick ? 'results-quick' : 'results'
  fs.writeFileSync(path.join(here, `${name}.md`), table)
  fs.writeFileSync(path.join(here, `${name}.json`), JSON.stringify(rows, null, 2))
  if (!quick) fs.writeFileSync(path.join(here, 'ratios.svg'), chart(rows, lines[0]))
}

await main()
