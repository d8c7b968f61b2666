// Type-checked (never run) by types.test.js: how the public types read in
// use, and what they refuse (each @ts-expect-error must be an error).

import { connect, Socket, SocketError } from 'sockets-api'
import type { SocketInfo, SocketOptions, StartTlsOptions } from 'sockets-api'

export async function usage (): Promise<void> {
  const socket: Socket = connect('db.internal:5432', { secureTransport: 'starttls', allowHalfOpen: false })
  connect({ hostname: '::1', port: 443 }, { secureTransport: 'on', ca: ['pem'], alpn: ['h2'], keepAlive: 1000 })
  connect({ path: '/run/app.sock' })

  const info: SocketInfo = await socket.opened
  const remote: string = info.remoteAddress
  const local: string | undefined = info.localAddress
  const alpn: string | null = info.alpn
  const protocol: string | null | undefined = info.tlsProtocol
  const expiry: string | undefined = info.peerCertificate?.validTo
  void [remote, local, alpn, protocol, expiry]

  const writer = socket.writable.getWriter()
  await writer.write(new Uint8Array([1, 2, 3]))
  const reader = socket.readable.getReader({ mode: 'byob' })
  const { value } = await reader.read(new Uint8Array(16))
  const bytes: Uint8Array | undefined = value
  void bytes
  reader.releaseLock()
  writer.releaseLock()

  const options: StartTlsOptions = { expectedServerHostname: 'db.internal', ca: 'pem' }
  const secure: Socket = socket.startTls(options)
  const upgraded: boolean = socket.upgraded
  const mode: 'off' | 'on' | 'starttls' = secure.secureTransport
  void [upgraded, mode]

  try {
    await secure.closed
  } catch (e) {
    if (e instanceof SocketError) {
      const code: string | undefined = e.code
      const isTypeError: TypeError = e
      void [code, isTypeError]
    }
  }
  await socket.close()
  await socket.close(new Error('reason'))

  const opts: SocketOptions = { secureTransport: 'off', highWaterMark: 0, signal: AbortSignal.timeout(1000) }
  void opts

  // @ts-expect-error a port is a number
  connect({ hostname: 'x', port: '80' })
  // @ts-expect-error secureTransport takes 'off', 'on' or 'starttls'
  connect('x:1', { secureTransport: 'yes' })
  // @ts-expect-error the constructor is not public
  void new Socket()
  // @ts-expect-error readable is read-only
  socket.readable = socket.readable
}
