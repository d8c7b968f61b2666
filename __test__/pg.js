'use strict'

// A throwaway PostgreSQL cluster for the tests: initdb into a temporary
// directory, TLS on with a certificate from ./certs, loopback only, a free
// port. Returns null (and says why) where no PostgreSQL binaries exist.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { certs } = require('./certs')
const { freePort } = require('./helpers')

function findBinDir () {
  const candidates = []
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN)
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim())
  } catch {}
  try {
    const versions = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`)
  } catch {}
  return candidates.find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'pg_ctl')))
}

/** PostgreSQL refuses to run as root: run its programs as the postgres user then. */
function runner () {
  if (process.getuid && process.getuid() === 0) {
    let uid, gid
    try {
      uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
      gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    } catch {
      throw new Error('running as root, and there is no "postgres" user to run PostgreSQL as')
    }
    return { uid, gid }
  }
  return {}
}

const why = { reason: '' }

/**
 * Starts a cluster. Resolves to { port, host, user, password, database, ca, restart, stop }
 * or null when PostgreSQL is not installed (why.reason says so).
 */
async function startPostgres () {
  const bin = findBinDir()
  if (!bin) {
    why.reason = 'no PostgreSQL server binaries found (set PG_BIN or install postgresql)'
    return null
  }
  const as = runner()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-pg-'))
  const data = path.join(dir, 'data')
  const user = 'tester'
  const password = 'correct horse battery staple'
  const C = certs()
  const chown = (p) => { if (as.uid !== undefined) fs.chownSync(p, as.uid, as.gid) }
  chown(dir)
  fs.writeFileSync(path.join(dir, 'pw'), password)
  chown(path.join(dir, 'pw'))
  const run = (prog, args) => execFileSync(path.join(bin, prog), args, {
    ...as, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' }
  })
  run('initdb', ['-D', data, '-U', user, '--auth=scram-sha-256', `--pwfile=${path.join(dir, 'pw')}`, '-E', 'UTF8', '--no-sync'])
  const files = { 'server.crt': C.server.cert, 'server.key': C.server.key, 'root.crt': C.ca }
  for (const [name, text] of Object.entries(files)) {
    const p = path.join(data, name)
    fs.writeFileSync(p, text, { mode: 0o600 })
    chown(p)
  }
  const port = await freePort()
  fs.appendFileSync(path.join(data, 'postgresql.conf'), [
    '',
    "listen_addresses = '127.0.0.1'",
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    'ssl = on',
    "ssl_cert_file = 'server.crt'",
    "ssl_key_file = 'server.key'",
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 50',
    ''
  ].join('\n'))
  run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start'])
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    database: 'postgres',
    ca: C.ca,
    dir,
    /** Restarts the server: every session is cut, new ones are accepted. */
    restart () {
      run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-m', 'fast', '-w', '-t', '60', 'restart'])
    },
    stop () {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
      } catch {}
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

module.exports = { startPostgres, why }
