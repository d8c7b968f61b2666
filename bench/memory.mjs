// npm run bench:memory [-- --quick]
//
// Does memory stay flat? 10,000 connect/exchange/close cycles and a 1 GiB
// download through sockets-api against the native peer, sampling RSS (after
// a GC) as they go. Writes bench/memory.md.

import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { connect } from 'sockets-api'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const quick = process.argv.includes('--quick')
const CYCLES = quick ? 2000 : 10000
const DOWNLOAD = (quick ? 256 : 1024) * 1024 * 1024

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
// RSS and the V8 heap in use, after a full GC: RSS also counts the heap
// V8 keeps reserved (its young generation grows with the allocation rate).
const sample = () => {
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss / 1024 / 1024, heap: m.heapUsed / 1024 / 1024, reserved: m.heapTotal / 1024 / 1024 }
}

const build = spawnSync('cargo', ['build', '--release', '-q', '-p', 'bench-peer'], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(1)
const peer = spawn(path.join(root, 'target', 'release', 'bench-peer'), [], { stdio: ['pipe', 'pipe', 'inherit'] })
const ports = JSON.parse(await new Promise((resolve) => peer.stdout.once('data', resolve)))

const rows = []
const msg = new Uint8Array(64).fill(1)

// Connect, exchange 64 bytes, close.
const cycleSamples = [['start', sample()]]
for (let i = 1; i <= CYCLES; i++) {
  const s = connect(`127.0.0.1:${ports.echo}`)
  const w = s.writable.getWriter()
  await w.write(msg)
  const r = s.readable.getReader()
  let got = 0
  while (got < msg.length) got += (await r.read()).value.byteLength
  r.releaseLock()
  w.releaseLock()
  await s.close()
  if (i % (CYCLES / 5) === 0) cycleSamples.push([`after ${i}`, sample()])
}
rows.push([`${CYCLES} connect/exchange/close cycles`, cycleSamples])

// One long download, read through a default reader.
const dlSamples = [['start', sample()]]
{
  const s = connect(`127.0.0.1:${ports.download}`)
  const w = s.writable.getWriter()
  const len = new Uint8Array(8)
  new DataView(len.buffer).setBigUint64(0, BigInt(DOWNLOAD))
  await w.write(len)
  const r = s.readable.getReader()
  let got = 0
  let next = DOWNLOAD / 4
  while (got < DOWNLOAD) {
    got += (await r.read()).value.byteLength
    if (got >= next) {
      dlSamples.push([`after ${Math.round(got / 1024 / 1024)} MiB`, sample()])
      next += DOWNLOAD / 4
    }
  }
  r.releaseLock()
  w.releaseLock()
  await s.close()
}
rows.push([`${DOWNLOAD / 1024 / 1024} MiB download`, dlSamples])
peer.stdin.end()

const lines = [`Node ${process.version}; MB after a full GC.`, '']
for (const [what, samples] of rows) {
  lines.push(`**${what}**`, '', `| | ${samples.map(([k]) => k).join(' | ')} |`, `|---|${samples.map(() => '---').join('|')}|`,
    `| RSS | ${samples.map(([, v]) => v.rss.toFixed(1)).join(' | ')} |`,
    `| V8 heap used | ${samples.map(([, v]) => v.heap.toFixed(1)).join(' | ')} |`,
    `| V8 heap reserved | ${samples.map(([, v]) => v.reserved.toFixed(1)).join(' | ')} |`,
    `| RSS outside the V8 heap | ${samples.map(([, v]) => (v.rss - v.reserved).toFixed(1)).join(' | ')} |`, '')
}
const text = lines.join('\n')
console.log(text)
fs.writeFileSync(path.join(here, 'memory.md'), text)
