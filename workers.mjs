// The entry for Cloudflare Workers and other workerd hosts (the `workerd` and
// `worker` export conditions): the runtime has connect() itself, so this
// package is its own `cloudflare:sockets` there, and no native code is loaded.

import { connect as runtimeConnect } from 'cloudflare:sockets'

/** The runtime's own connect(). */
export const connect = runtimeConnect

/**
 * workerd's socket errors are plain `TypeError`s (bad arguments, misuse) and
 * `Error`s (a refused connection, a broken one) with no mark of their own, so
 * here `instanceof SocketError` recognises any Error: code written against
 * this package's `SocketError` catches what the runtime's sockets throw.
 */
export class SocketError extends TypeError {
  static [Symbol.hasInstance] (value) {
    return value instanceof Error
  }
}

/** Recognises the runtime's sockets (workerd exports no Socket class). */
export class Socket {
  constructor () {
    throw new TypeError('Illegal constructor: use connect()')
  }

  static [Symbol.hasInstance] (value) {
    return value !== null && typeof value === 'object' && 'opened' in value && 'closed' in value &&
      'readable' in value && 'writable' in value && typeof value.startTls === 'function'
  }
}

export default { connect, Socket, SocketError }
