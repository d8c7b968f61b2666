'use strict'

// The public entry of sockets-api: connect(), Socket and SocketError.
//
// The shim in lib/ owns what JS users see: argument validation (options.js,
// tls-options.js), the WHATWG streams, the promises and the socket's
// lifecycle (socket.js), the error class (errors.js). The native handle
// (native.js over binding.js, built from src/) only connects, reads and
// writes without waiting, and reports readiness through one event callback.

const { parseTarget, normalizeOptions } = require('./lib/options')
const { Socket, openSocket } = require('./lib/socket')
const { SocketError } = require('./lib/errors')

/**
 * Opens a TCP (or Unix domain) socket; TLS with `secureTransport: 'on'`.
 * Throws a SocketError at once on an invalid address or option.
 */
function connect (address, options) {
  return openSocket(parseTarget(address), normalizeOptions(options))
}

module.exports = { connect, Socket, SocketError }
