#!/usr/bin/env node
'use strict'

// sockets-api: netcat / `openssl s_client` over connect(). Pipes stdin to
// the socket and the socket to stdout; connection facts go to stderr.

const fs = require('node:fs')
const { parseArgs } = require('node:util')
const { connect, SocketError } = loadApi()

/** The package, or one line saying why it cannot load (no stack trace). */
function loadApi () {
  try {
    return require('./index.js')
  } catch (e) {
    const text = String(e.message).startsWith('sockets-api') ? e.message : `sockets-api: ${e.message}`
    process.stderr.write(`${text}\n`)
    process.exit(1)
  }
}

const USAGE = `usage: sockets-api <host:port | /path/to/unix.sock> [options]

Pipes stdin to the socket and the socket to stdout. Connection facts go to
stderr.

options:
  --tls                     TLS from the first byte
  --starttls PROTO          plain text first, then TLS: smtp, imap, postgres,
                            or plain (no negotiation, TLS right away)
  --ca FILE                 trust these CA certificates (PEM) instead of the
                            system's
  --cert FILE --key FILE    client certificate and key (PEM)
  --servername NAME         name to verify and send in SNI (default: the host)
  --alpn PROTO              offer this ALPN protocol (repeatable)
  --insecure                do not verify the server's certificate
  --connect-timeout MS      give up connecting after MS milliseconds
  -q, --quiet               print nothing but errors to stderr
  -h, --help                this text
  -v, --version             the package version

exit codes:
  0  the exchange ended normally
  2  bad usage
  3  could not connect (refused, unreachable, name not found, timed out)
  4  TLS failed (certificate not trusted, wrong name, handshake)
  5  the server refused STARTTLS
  6  the connection broke after it was made (reset)
`

const EXIT = { usage: 2, connect: 3, tls: 4, starttls: 5, broken: 6 }

class CliError extends Error {
  constructor (message, exitCode) {
    super(message)
    this.exitCode = exitCode
  }
}

function parse (argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tls: { type: 'boolean' },
        starttls: { type: 'string' },
        ca: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        servername: { type: 'string' },
        alpn: { type: 'string', multiple: true },
        insecure: { type: 'boolean' },
        'connect-timeout': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (e) {
    throw new CliError(e.message, EXIT.usage)
  }
  const { values, positionals } = parsed
  if (values.help || values.version) return values
  if (positionals.length !== 1) throw new CliError('expected one address: host:port or a Unix socket path', EXIT.usage)
  if (values.tls && values.starttls) throw new CliError('--tls and --starttls cannot be used together', EXIT.usage)
  if (values.starttls && !STARTTLS[values.starttls]) {
    throw new CliError(`--starttls must be one of ${Object.keys(STARTTLS).join(', ')}`, EXIT.usage)
  }
  if (Boolean(values.cert) !== Boolean(values.key)) throw new CliError('--cert and --key go together', EXIT.usage)
  if (values['connect-timeout'] !== undefined && !/^\d+$/.test(values['connect-timeout'])) {
    throw new CliError('--connect-timeout takes a number of milliseconds', EXIT.usage)
  }
  return { ...values, target: positionals[0] }
}

function readFile (file, flag) {
  try {
    return fs.readFileSync(file)
  } catch (e) {
    throw new CliError(`${flag} ${file}: ${e.message}`, EXIT.usage)
  }
}

/** A path (has a slash, or names an existing socket file) is a Unix socket. */
function address (target) {
  if (target.startsWith('unix:') || target.includes('/')) return { path: target.replace(/^unix:/, '') }
  return target
}

function tlsOptions (o, host) {
  const t = {}
  if (o.ca) t.ca = readFile(o.ca, '--ca')
  if (o.cert) {
    t.cert = readFile(o.cert, '--cert')
    t.key = readFile(o.key, '--key')
  }
  if (o.servername) t.servername = o.servername
  else if (host) t.servername = host
  if (o.alpn) t.alpn = o.alpn
  if (o.insecure) t.rejectUnauthorized = false
  return t
}

function hostOf (target) {
  if (typeof target !== 'string') return undefined
  const m = /^\[([^\]]+)\]:\d+$/.exec(target) || /^([^:]+):\d+$/.exec(target)
  return m ? m[1] : undefined
}

// --- STARTTLS dialogues -------------------------------------------------------

/** Reads CRLF-terminated lines until `done(line)` says the reply is complete. */
async function reply (reader, state, done) {
  for (;;) {
    const nl = state.text.indexOf('\n')
    if (nl >= 0) {
      const line = state.text.slice(0, nl + 1).replace(/\r?\n$/, '')
      state.text = state.text.slice(nl + 1)
      if (done(line)) return line
      continue
    }
    const { value, done: ended } = await reader.read()
    if (ended) throw new CliError('the server closed the connection during STARTTLS', EXIT.starttls)
    state.text += Buffer.from(value).toString('latin1')
  }
}

const STARTTLS = {
  plain: async () => {},
  async smtp (reader, writer) {
    const state = { text: '' }
    const code = (line) => line.slice(0, 3)
    const last = (line) => line[3] !== '-'
    const greeting = await reply(reader, state, last)
    if (code(greeting) !== '220') throw new CliError(`SMTP greeting: ${greeting}`, EXIT.starttls)
    await writer.write('EHLO sockets-api\r\n')
    const ehlo = await reply(reader, state, last)
    if (code(ehlo) !== '250') throw new CliError(`SMTP EHLO: ${ehlo}`, EXIT.starttls)
    await writer.write('STARTTLS\r\n')
    const go = await reply(reader, state, last)
    if (code(go) !== '220') throw new CliError(`SMTP STARTTLS refused: ${go}`, EXIT.starttls)
  },
  async imap (reader, writer) {
    const state = { text: '' }
    const greeting = await reply(reader, state, () => true)
    if (!/^\* (OK|PREAUTH)/i.test(greeting)) throw new CliError(`IMAP greeting: ${greeting}`, EXIT.starttls)
    await writer.write('a1 STARTTLS\r\n')
    const go = await reply(reader, state, (line) => line.startsWith('a1 '))
    if (!/^a1 OK/i.test(go)) throw new CliError(`IMAP STARTTLS refused: ${go}`, EXIT.starttls)
  },
  async postgres (reader, writer) {
    await writer.write(new Uint8Array([0, 0, 0, 8, 4, 210, 22, 47])) // SSLRequest
    const { value, done } = await reader.read()
    if (done) throw new CliError('the server closed the connection during STARTTLS', EXIT.starttls)
    if (value[0] !== 0x53) throw new CliError(`PostgreSQL refused TLS (answered ${JSON.stringify(String.fromCharCode(value[0]))})`, EXIT.starttls)
  }
}

// --- the exchange -------------------------------------------------------------

function describeCert (cert) {
  return `${cert.subject.replace(/\n/g, ', ')} (issuer ${cert.issuer.replace(/\n/g, ', ')}), valid until ${cert.validTo}`
}

function facts (info, secure) {
  const lines = [`connected to ${info.remoteAddress}${info.localAddress ? ` from ${info.localAddress}` : ''}`]
  if (secure) {
    lines.push(`TLS ${info.tlsProtocol ?? 'version unknown'}, ALPN ${info.alpn ?? 'none'}`)
    if (info.peerCertificate) lines.push(`peer certificate: ${describeCert(info.peerCertificate)}`)
  }
  return lines.join('\n')
}

/** Which exit code an error from the socket means. */
function exitFor (e, phase) {
  if (e instanceof CliError) return e.exitCode
  const code = e && e.code
  if (/^ERR_INVALID_ARG/.test(code || '')) return EXIT.usage // a malformed address
  if (phase === 'open') {
    if (/^(ERR_SSL|ERR_TLS|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO|ERR_OSSL)/.test(code || '')) return EXIT.tls
    return EXIT.connect
  }
  return EXIT.broken
}

async function pipeStdin (writer) {
  for await (const chunk of process.stdin) await writer.write(chunk)
  await writer.close()
}

async function pipeStdout (readable) {
  for await (const chunk of readable) {
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve))
  }
}

async function main (argv) {
  const o = parse(argv)
  if (o.help) return process.stdout.write(USAGE)
  if (o.version) return process.stdout.write(require('./package.json').version + '\n')
  const say = o.quiet ? () => {} : (text) => process.stderr.write(text + '\n')
  const host = hostOf(o.target)
  const tls = o.tls || o.starttls ? tlsOptions(o, host) : {}
  const options = {
    ...tls,
    allowHalfOpen: true,
    secureTransport: o.tls ? 'on' : o.starttls ? 'starttls' : 'off'
  }
  if (o['connect-timeout'] !== undefined) options.connectTimeout = Number(o['connect-timeout'])

  let phase = 'open'
  let socket
  try {
    socket = connect(address(o.target), options)
    await socket.opened
    if (o.starttls) {
      const reader = socket.readable.getReader()
      const writer = socket.writable.getWriter()
      await STARTTLS[o.starttls](reader, writer)
      reader.releaseLock()
      writer.releaseLock()
      socket = socket.startTls(tls)
    }
    const info = await socket.opened
    say(facts(info, Boolean(o.tls || o.starttls)))
    phase = 'exchange'
    const writer = socket.writable.getWriter()
    const sending = pipeStdin(writer)
    sending.catch(() => {})
    await pipeStdout(socket.readable)
    // The peer ended: stop reading stdin, finish.
    process.stdin.destroy()
    await socket.close()
    return 0
  } catch (e) {
    if (socket) socket.close(e) // nothing more is sent; the process may exit
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { exitCode: exitFor(e, phase) })
  }
}

main(process.argv.slice(2)).then(
  () => { process.exitCode = 0 },
  (e) => {
    const text = e instanceof SocketError || e instanceof CliError ? e.message : String(e && e.stack ? e.stack : e)
    const code = e && e.code ? ` (${e.code})` : ''
    process.stderr.write(`sockets-api: ${text.replace(/^SocketError: /, '')}${code}\n`)
    if (e instanceof CliError && e.exitCode === EXIT.usage) process.stderr.write('try: sockets-api --help\n')
    process.exitCode = e.exitCode ?? 1
  }
)
