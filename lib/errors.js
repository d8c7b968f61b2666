'use strict'

// SocketError and the errors the shim builds or receives from the binding.

class SocketError extends TypeError {
  /**
   * @param {string} message the text after "SocketError: "
   * @param {{code?: string, syscall?: string, address?: string, port?: number, cause?: unknown}} [details]
   */
  constructor (message, details) {
    const text = String(message)
    super(text.startsWith('SocketError: ') ? text : `SocketError: ${text}`)
    if (details) {
      for (const key of ['code', 'syscall', 'address', 'port', 'cause']) {
        if (details[key] !== undefined && details[key] !== null) {
          Object.defineProperty(this, key, {
            value: details[key],
            enumerable: false,
            writable: true,
            configurable: true
          })
        }
      }
    }
  }
}

// OpenSSL 3.2 renamed its alert reasons from "sslv3 alert ..." to
// "ssl/tls alert ...", and Node's codes follow the OpenSSL it is built with:
// name alerts as this Node does, whichever OpenSSL the addon has.
const [sslMajor, sslMinor] = String(process.versions.openssl || '3.2').split('.').map(Number)
const ALERT_OLD = 'ERR_SSL_SSLV3_ALERT_'
const ALERT_NEW = 'ERR_SSL_SSL/TLS_ALERT_'
const [alertFrom, alertTo] = sslMajor > 3 || (sslMajor === 3 && sslMinor >= 2)
  ? [ALERT_OLD, ALERT_NEW]
  : [ALERT_NEW, ALERT_OLD]

function errorFromDetail (detail) {
  if (detail.code && detail.code.startsWith(alertFrom)) {
    const code = alertTo + detail.code.slice(alertFrom.length)
    const message = detail.message && code.slice(8).toLowerCase().replace(/_/g, ' ')
    detail = { ...detail, code, message }
  }
  return new SocketError(detail.message || detail.code || 'socket error', detail)
}

/**
 * An error the binding threw: its `code` is Node's code and its message the
 * SocketError text (src/napi_values.rs). Any other code is a status name of
 * napi-rs's own (a caught panic, a failed napi call): an internal error.
 */
function errorFromNative (e) {
  const code = e && e.code
  const text = String((e && e.message) || e)
  if (typeof code === 'string' && /^(ERR_[A-Z0-9_/]+|E[A-Z0-9]+)$/.test(code)) {
    return new SocketError(text, { code })
  }
  return new SocketError(`internal error in sockets-api: ${text}`, { code: 'ERR_INTERNAL', cause: e })
}

function invalidArg (message) {
  return new SocketError(message, { code: 'ERR_INVALID_ARG_TYPE' })
}

function closedError () {
  return new SocketError('socket is closed', { code: 'ERR_SOCKET_CLOSED' })
}

/**
 * The error close() leaves a socket's streams with, which only a later read
 * or write ever sees: made without a stack. Capturing one (with Node's async
 * frames) costs more than the rest of close() does in JavaScript, and its
 * frames would show where close() was called, not the read or write that
 * meets the error.
 */
function streamsClosedError () {
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = 0
  } catch {
    return closedError() // made read-only by the application: keep the stack
  }
  try {
    return closedError()
  } finally {
    Error.stackTraceLimit = limit
  }
}

module.exports = { SocketError, errorFromDetail, errorFromNative, invalidArg, closedError, streamsClosedError }
