// Type-checked (never run) by types.test.js with the Workers types as the
// environment (tsconfig.workers.json): code written against
// `cloudflare:sockets` accepts this package's values.

import { connect } from 'sockets-api'

/** Functions written for Workers, typed with the Workers `Socket`. */
async function talk (socket: Socket): Promise<SocketInfo> {
  const writer = socket.writable.getWriter()
  await writer.write(new TextEncoder().encode('PING\r\n'))
  writer.releaseLock()
  return socket.opened
}
function upgrade (socket: Socket, options: SocketOptions): Socket {
  return socket.secureTransport === 'starttls' ? socket.startTls() : socket
}

export async function fromWorkers (address: SocketAddress, options: SocketOptions): Promise<void> {
  // A sockets-api Socket goes wherever the Workers Socket is expected.
  const socket: Socket = connect(address, { secureTransport: 'starttls' })
  const info: SocketInfo = await talk(connect('example.com:443'))
  const secure: Socket = upgrade(socket, options)
  void [info, secure]
}
