// The loopback servers the cross-runtime suite (checks.mjs) talks to, made
// with node:net and node:tls (under Node, Bun or Deno; for workerd, by the
// Node test that starts it). Certificates are made now (../certs.js).

import net from 'node:net'
import tls from 'node:tls'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { certs } = require('../certs.js')

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)))
const quiet = (s) => { s.on('error', () => {}); return s }

/** Resolves to { ports, ca, close() }. */
export async function startServers () {
  const C = certs()
  const servers = []
  const start = async (server) => {
    servers.push(server)
    server.on('tlsClientError', () => {})
    return listen(server)
  }
  const ports = {}
  ports.echo = await start(net.createServer((s) => quiet(s).pipe(s)))
  ports.finisher = await start(net.createServer((s) => quiet(s).once('data', (d) => s.end(d))))
  ports.tls = await start(tls.createServer(C.server, (s) => quiet(s).pipe(s)))
  ports.wrongName = await start(tls.createServer(C.wrongName, (s) => quiet(s).end()))
  ports.starttls = await start(net.createServer((s) => {
    quiet(s).once('data', () => {
      s.write('go\n')
      const t = quiet(new tls.TLSSocket(s, { isServer: true, ...C.server }))
      t.pipe(t)
    })
  }))
  const closed = net.createServer()
  ports.refused = await listen(closed)
  await new Promise((resolve) => closed.close(resolve))
  return {
    ports,
    ca: C.ca,
    close: () => { for (const s of servers) s.close() }
  }
}
