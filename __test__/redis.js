'use strict'

// A throwaway redis-server on loopback for the tests: a free port, no
// persistence, stopped (and its directory removed) by stop().

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { spawn, execFileSync } = require('node:child_process')
const { freePort } = require('./helpers')

const why = { reason: '' }

function findServer () {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

/** Resolves once something accepts connections on the port. */
async function waitForPort (port, ms) {
  const deadline = Date.now() + ms
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port} within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Starts a server. Resolves to { port, stop } or null (why.reason says why). */
async function startRedis () {
  const bin = findServer()
  if (!bin) {
    why.reason = 'redis-server not found (install the redis-server package or set REDIS_SERVER)'
    return null
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-redis-'))
  const port = await freePort()
  const child = spawn(bin, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  await waitForPort(port, 10000)
  return {
    port,
    async stop () {
      child.kill('SIGTERM')
      await exited
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

module.exports = { startRedis, why }
