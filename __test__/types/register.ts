// Type-checked (never run) by types.test.js: Workers code run under the
// register hook sees this package's types for `cloudflare:sockets`.

import 'sockets-api/register'
import { connect, SocketError } from 'cloudflare:sockets'
import type { SocketInfo } from 'cloudflare:sockets'

export async function underTheHook (): Promise<string> {
  const socket = connect('db.internal:5432', { secureTransport: 'starttls' })
  const info: SocketInfo = await socket.opened
  const secure = socket.startTls({ expectedServerHostname: 'db.internal' })
  await secure.close()
  // @ts-expect-error a port is a number
  connect({ hostname: 'x', port: {} })
  const e: unknown = new SocketError('x')
  return e instanceof SocketError ? e.message : info.remoteAddress
}
