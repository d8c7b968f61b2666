'use strict'

// The command line tool, driven as a child process: stdin to the socket,
// the socket to stdout, facts on stderr, exit codes scripts can use.

const test = require('node:test')
const assert = require('node:assert/strict')
const tls = require('node:tls')
const path = require('node:path')
const crypto = require('node:crypto')
const { spawn } = require('node:child_process')
const { certs, tempFile } = require('./certs')
const { listen, listenUnix, closedPort } = require('./helpers')

const C = certs()
const BIN = path.join(__dirname, '..', require('../package.json').bin['sockets-api'])
const caFile = tempFile('cli-ca.pem', C.ca)
const wrongCaFile = tempFile('cli-wrong-ca.pem', C.otherCa)

/** Runs the CLI with `input` on stdin; resolves to { code, stdout (Buffer), stderr }. */
function cli (args, input = '', timeout = 20000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const out = []
    let stderr = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout: Buffer.concat(out), stderr })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(input)
  })
}

/** A TLS echo server; `upgrade(sock, next)` may run a plain dialogue first. */
function tlsEcho (upgrade) {
  const secure = (raw) => {
    const s = new tls.TLSSocket(raw, { isServer: true, ...C.server, ALPNProtocols: ['echo/1', 'h2'] })
    s.on('error', () => {})
    s.pipe(s)
  }
  return listen((raw) => (upgrade ? upgrade(raw, () => secure(raw)) : secure(raw)))
}

/** Answers `lines` of a plain-text dialogue, then hands over to TLS. */
function dialogue (greeting, steps) {
  return (raw, next) => {
    raw.write(greeting)
    let text = ''
    const onData = (d) => {
      text += d.toString('latin1')
      while (text.includes('\r\n')) {
        const line = text.slice(0, text.indexOf('\r\n'))
        text = text.slice(text.indexOf('\r\n') + 2)
        const step = steps.shift()
        if (!step || !step.expect.test(line)) return raw.end('bad command\r\n')
        raw.write(step.answer)
        if (step.upgrade) {
          raw.removeListener('data', onData)
          next()
          return
        }
      }
    }
    raw.on('data', onData)
  }
}

test('plain TCP: stdin goes out, the reply comes back on stdout, facts on stderr, exit 0', async (t) => {
  const srv = await listen((s) => s.pipe(s))
  t.after(() => srv.close())
  const payload = crypto.randomBytes(1024 * 1024)
  const r = await cli([`127.0.0.1:${srv.port}`], payload)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(r.stdout.equals(payload), `${r.stdout.length} bytes came back`)
  assert.match(r.stderr, new RegExp(`connected to 127\\.0\\.0\\.1:${srv.port} from 127\\.0\\.0\\.1:\\d+`))
})

test('a Unix socket path', async (t) => {
  const srv = await listenUnix((s) => s.pipe(s))
  t.after(() => srv.close())
  const r = await cli([srv.path, '-q'], 'over unix\n')
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'over unix\n')
  assert.equal(r.stderr, '')
})

test('--tls with --ca, --servername and --alpn: protocol, ALPN and the peer certificate on stderr', async (t) => {
  const srv = await tlsEcho()
  t.after(() => srv.close())
  const r = await cli([`127.0.0.1:${srv.port}`, '--tls', '--ca', caFile, '--servername', 'localhost', '--alpn', 'echo/1'], 'secret\n')
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout.toString(), 'secret\n')
  assert.match(r.stderr, /TLS TLSv1\.3, ALPN echo\/1/)
  const expiry = new crypto.X509Certificate(C.server.cert).validTo
  assert.ok(r.stderr.includes(`peer certificate: CN=localhost`), r.stderr)
  assert.ok(r.stderr.includes(`valid until ${expiry}`), r.stderr)
})

test('TLS failures exit 4 with the certificate error; --insecure connects anyway', async (t) => {
  const srv = await tlsEcho()
  t.after(() => srv.close())
  const wrong = await cli([`localhost:${srv.port}`, '--tls', '--ca', wrongCaFile])
  assert.equal(wrong.code, 4, wrong.stderr)
  assert.match(wrong.stderr, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
  const name = await cli([`127.0.0.1:${srv.port}`, '--tls', '--ca', caFile, '--servername', 'example.com'])
  assert.equal(name.code, 4, name.stderr)
  assert.match(name.stderr, /ERR_TLS_CERT_ALTNAME_INVALID/)
  const insecure = await cli([`localhost:${srv.port}`, '--tls', '--insecure', '-q'], 'anyway')
  assert.equal(insecure.code, 0, insecure.stderr)
  assert.equal(insecure.stdout.toString(), 'anyway')
})

test('--starttls smtp, imap, postgres and plain negotiate, then talk TLS', async (t) => {
  const servers = {
    smtp: await tlsEcho(dialogue('220 mail ready\r\n', [
      { expect: /^EHLO /, answer: '250-mail\r\n250-PIPELINING\r\n250 STARTTLS\r\n' },
      { expect: /^STARTTLS$/, answer: '220 go ahead\r\n', upgrade: true }
    ])),
    imap: await tlsEcho(dialogue('* OK IMAP ready\r\n', [
      { expect: /^a1 STARTTLS$/, answer: 'a1 OK begin TLS\r\n', upgrade: true }
    ])),
    postgres: await tlsEcho((raw, next) => raw.once('data', (d) => {
      assert.deepEqual([...d], [0, 0, 0, 8, 4, 210, 22, 47])
      raw.write('S')
      next()
    })),
    plain: await tlsEcho()
  }
  t.after(() => Promise.all(Object.values(servers).map((s) => s.close())))
  for (const [proto, srv] of Object.entries(servers)) {
    const r = await cli([`localhost:${srv.port}`, '--starttls', proto, '--ca', caFile], `hello over ${proto}\n`)
    assert.equal(r.code, 0, `${proto}: ${r.stderr}`)
    assert.equal(r.stdout.toString(), `hello over ${proto}\n`)
    assert.match(r.stderr, /TLS TLSv1\.[23]/)
  }
})

test('a server that refuses STARTTLS exits 5', async (t) => {
  const srv = await listen((s) => {
    s.write('220 mail ready\r\n')
    s.on('data', (d) => s.write(/^EHLO/.test(d) ? '250 mail\r\n' : '454 TLS not available\r\n'))
  })
  t.after(() => srv.close())
  const r = await cli([`127.0.0.1:${srv.port}`, '--starttls', 'smtp'])
  assert.equal(r.code, 5, r.stderr)
  assert.match(r.stderr, /454 TLS not available/)
})

test('connection failures exit 3; a reset after connecting exits 6; bad usage exits 2', async (t) => {
  const refused = await cli([`127.0.0.1:${await closedPort()}`])
  assert.equal(refused.code, 3)
  assert.match(refused.stderr, /ECONNREFUSED/)
  const srv = await listen((s) => {
    s.write('some data first\n')
    setTimeout(() => s.resetAndDestroy(), 100)
  }, '127.0.0.1', { allowHalfOpen: true })
  t.after(() => srv.close())
  const reset = await cli([`127.0.0.1:${srv.port}`, '-q'])
  assert.equal(reset.code, 6, reset.stderr)
  assert.match(reset.stderr, /ECONNRESET/)
  assert.equal(reset.stdout.toString(), 'some data first\n')
  for (const args of [[], ['a', 'b'], ['host'], ['h:1', '--starttls', 'ftp'], ['h:1', '--cert', 'x'], ['h:1', '--bogus']]) {
    const r = await cli(args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
  }
  const help = await cli(['--help'])
  assert.equal(help.code, 0)
  assert.match(help.stdout.toString(), /^usage: sockets-api/)
})
