'use strict'

// Builds the native addon (release) when it is missing or older than the
// Rust sources, so `npm run demo` and `npm test` work on a fresh clone.
// Installed packages carry prebuilt binaries and never run this.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')

function newest (dir) {
  let t = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    t = Math.max(t, entry.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs)
  }
  return t
}

function builtAt () {
  const binaries = fs.readdirSync(root).filter((f) => f.startsWith('sockets-api.') && f.endsWith('.node'))
  if (binaries.length === 0 || !fs.existsSync(path.join(root, 'binding.js'))) return 0
  return Math.min(...binaries.map((f) => fs.statSync(path.join(root, f)).mtimeMs))
}

const sources = Math.max(
  newest(path.join(root, 'src')),
  fs.statSync(path.join(root, 'Cargo.toml')).mtimeMs,
  fs.statSync(path.join(root, 'build.rs')).mtimeMs
)

if (builtAt() < sources) {
  const { missingPrerequisites, explain } = require('./prerequisites')
  const missing = missingPrerequisites()
  if (missing.length > 0) {
    console.error(explain(missing))
    process.exit(1)
  }
  console.error('sockets-api: building the native addon (release)...')
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (r.status !== 0) process.exit(r.status || 1)
}
