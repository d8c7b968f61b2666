// The cross-runtime suite: one set of checks, written only against
// connect(), SocketError and Web APIs (streams, TextEncoder, crypto.subtle),
// so that the same file runs under Node, Bun and Deno (the native entry) and
// in workerd (the package's Workers entry, the runtime's own connect()).
// The servers are the caller's (servers.mjs, on loopback).
//
// runChecks({ connect, SocketError, ports, tls, codes }) resolves to the
// names of the checks passed, or rejects with the first failure.
//   tls:   options added to a TLS connect(): `{ ca }` where the CA is given
//          per connection; `{}` where the runtime trusts it by configuration
//   codes: whether errors carry node:net's codes (workerd's do not: see
//          docs/api.md, "Differences from workerd")

const MiB = 1024 * 1024

function check (ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`)
}

function randomBytes (n) {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)))
  return out
}

async function sha256 (bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

function concat (parts, total) {
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** Writes `payload` in 64 KiB chunks while reading the echo; returns it. */
async function echoThrough (socket, payload) {
  const writer = socket.writable.getWriter()
  const reader = socket.readable.getReader()
  const sending = (async () => {
    for (let i = 0; i < payload.length; i += 65536) await writer.write(payload.subarray(i, i + 65536))
  })()
  const parts = []
  let got = 0
  while (got < payload.length) {
    const { value, done } = await reader.read()
    if (done) break
    parts.push(value)
    got += value.byteLength
  }
  await sending
  writer.releaseLock()
  reader.releaseLock()
  return concat(parts, got)
}

async function readText (socket) {
  const reader = socket.readable.getReader()
  const decoder = new TextDecoder()
  let text = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  reader.releaseLock()
  return text
}

async function failure (promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  return null
}

export async function runChecks ({ connect, SocketError, ports, tls = {}, codes = true }) {
  const passed = []
  const payload = randomBytes(3 * MiB + 17)
  const digest = await sha256(payload)

  const addresses = {
    'by IP': `127.0.0.1:${ports.echo}`,
    'by name': `localhost:${ports.echo}`,
    'by object': { hostname: '127.0.0.1', port: ports.echo }
  }
  for (const [name, address] of Object.entries(addresses)) {
    const socket = connect(address)
    const info = await socket.opened
    check(typeof info.remoteAddress === 'string' || info.remoteAddress === undefined, `${name}: opened gives a SocketInfo`)
    check(await sha256(await echoThrough(socket, payload)) === digest, `${name}: the echo matches (3 MiB, SHA-256)`)
    await socket.close()
    passed.push(`echo ${name}`)
  }

  {
    // Written before the connection is open; the peer answers and sends FIN.
    const socket = connect(`127.0.0.1:${ports.finisher}`)
    const writer = socket.writable.getWriter()
    writer.write(new TextEncoder().encode('early'))
    check(await readText(socket) === 'early', 'a write before open is sent, the reply read until the peer\'s FIN')
    // The peer's FIN ends the socket (allowHalfOpen is false). No close()
    // here: workerd's `closed` rejects when close() follows the FIN at once
    // (docs/api.md, "Differences from workerd").
    await socket.closed
    passed.push('writes before open, peer FIN')
  }

  {
    const socket = connect(`127.0.0.1:${ports.echo}`)
    await socket.opened
    const closing = socket.close()
    check(closing instanceof Promise, 'close() returns a promise')
    await closing
    await socket.closed
    const e = await failure(socket.writable.getWriter().write(new Uint8Array(1)))
    check(e instanceof Error, 'a write after close() fails')
    passed.push('close()')
  }

  {
    const socket = connect(`localhost:${ports.tls}`, { secureTransport: 'on', ...tls })
    await socket.opened
    check(await sha256(await echoThrough(socket, payload)) === digest, 'TLS echo matches (3 MiB, SHA-256)')
    await socket.close()
    passed.push('TLS with a CA made at test time')
  }

  {
    const socket = connect(`localhost:${ports.starttls}`, { secureTransport: 'starttls', ...tls })
    const writer = socket.writable.getWriter()
    await writer.write(new TextEncoder().encode('STARTTLS\n'))
    const reader = socket.readable.getReader()
    const { value } = await reader.read()
    check(new TextDecoder().decode(value) === 'go\n', 'the server says go')
    writer.releaseLock()
    reader.releaseLock()
    const secure = socket.startTls()
    const part = payload.subarray(0, 100000)
    check(await sha256(await echoThrough(secure, part)) === await sha256(part), 'the echo after startTls() matches')
    await secure.close()
    passed.push('startTls()')
  }

  {
    const refused = await failure(connect(`127.0.0.1:${ports.refused}`).opened)
    check(refused instanceof SocketError, 'a refused connection is a SocketError')
    if (codes) check(refused.code === 'ECONNREFUSED', `a refusal's code is ECONNREFUSED (got ${refused.code})`)
    const bad = await failure(connect(`localhost:${ports.wrongName}`, { secureTransport: 'on', ...tls }).opened)
    check(bad instanceof SocketError, 'a certificate for another name is a SocketError')
    if (codes) check(bad.code === 'ERR_TLS_CERT_ALTNAME_INVALID', `a wrong name's code is ERR_TLS_CERT_ALTNAME_INVALID (got ${bad.code})`)
    passed.push(codes ? 'SocketError codes' : 'SocketErrors')
  }

  return passed
}
