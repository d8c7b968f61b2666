'use strict'

// `sockets-api/register` makes `cloudflare:sockets` resolve to this package,
// so code written for Workers runs under Node unchanged.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { listen, runNode } = require('./helpers')


/** Runs a script file with node (asynchronously: the test's servers keep serving). */
async function run (args, file, source) {
  // Inside the package, so that the scripts can import it by name.
  const dir = fs.mkdtempSync(path.join(__dirname, '.register-'))
  const script = path.join(dir, file)
  fs.writeFileSync(script, source)
  try {
    return await runNode([...args, script], { timeout: 20000 })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const workerStyle = (port) => `
  import { connect } from 'cloudflare:sockets'
  const socket = connect({ hostname: '127.0.0.1', port: ${port} })
  const writer = socket.writable.getWriter()
  await writer.write(new TextEncoder().encode('from workers code'))
  const { value } = await socket.readable.getReader().read()
  console.log(new TextDecoder().decode(value))
  await socket.close()
`

test('node --import sockets-api/register: import from cloudflare:sockets works unchanged', async (t) => {
  const srv = await listen((s) => s.pipe(s))
  t.after(() => srv.close())
  const r = await run(['--import', 'sockets-api/register'], 'app.mjs', workerStyle(srv.port))
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'from workers code')
})

test('importing sockets-api/register first also enables dynamic import()', async (t) => {
  const srv = await listen((s) => s.pipe(s))
  t.after(() => srv.close())
  const r = await run([], 'app.mjs', `
    import 'sockets-api/register'
    const { connect, SocketError } = await import('cloudflare:sockets')
    const direct = await import('sockets-api')
    console.log(connect === direct.connect, SocketError === direct.SocketError)
  `)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'true true')
})

test('require("cloudflare:sockets") works after the register hook', async (t) => {
  const r = await run(['--import', 'sockets-api/register'], 'app.cjs', `
    const { connect, Socket, SocketError } = require('cloudflare:sockets')
    console.log(typeof connect, typeof Socket, typeof SocketError, connect === require('sockets-api').connect)
  `)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'function function function true')
})

test('without the hook, cloudflare:sockets does not resolve', async () => {
  const r = await run([], 'app.mjs', "import 'cloudflare:sockets'\n")
  assert.notEqual(r.code, 0)
})
