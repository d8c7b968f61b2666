'use strict'

// Validation and conversion of connect()'s address and options.

const { binding } = require('./native')
const { SocketError, errorFromNative, invalidArg } = require('./errors')

const DEFAULT_HIGH_WATER_MARK = 64 * 1024
// How long close() waits on a peer that takes none of the remaining data.
const DEFAULT_CLOSE_TIMEOUT = 30000
// The longest delay a timer keeps (Node's TIMEOUT_MAX, about 24.8 days);
// longer timeouts are clamped to it instead of firing at once.
const TIMEOUT_MAX = 2 ** 31 - 1

function parseTarget (address) {
  try {
    if (typeof address === 'string') return binding.parseAddress(address)
    if (address !== null && typeof address === 'object') {
      if (address.path !== undefined) {
        if (typeof address.path !== 'string') throw invalidArg('address.path must be a string')
        return binding.parsePath(address.path)
      }
      const { hostname } = address
      let { port } = address
      if (typeof hostname !== 'string') throw invalidArg('address.hostname must be a string')
      // Workers' environment variables are strings: a port of decimal
      // digits converts, as WebIDL converts it; anything else is refused.
      if (typeof port === 'string' && /^[0-9]{1,5}$/.test(port)) port = Number(port)
      if (typeof port !== 'number') throw invalidArg('address.port must be a number or a string of digits')
      return binding.parseHostPort(hostname, port)
    }
  } catch (e) {
    throw e instanceof SocketError ? e : errorFromNative(e)
  }
  throw invalidArg('address must be a string ("host:port") or an object ({ hostname, port } or { path })')
}

/** A WebIDL boolean: any value converts (`1` is true, `''` false). */
function flag (options, name) {
  const value = options[name]
  return value === undefined ? undefined : Boolean(value)
}

/**
 * A WebIDL-style number: numbers, booleans and numeric strings convert
 * (`'16'` is 16); what would convert to nonsense (`'1k'`, objects) is refused.
 */
function numeric (options, name) {
  const value = options[name]
  if (value === undefined || typeof value === 'number') return value
  if (typeof value === 'boolean') return Number(value)
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value)
  throw invalidArg(`options.${name} must be a number`)
}

function nonNegative (options, name) {
  const value = numeric(options, name)
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    throw invalidArg(`options.${name} must be a non-negative finite number`)
  }
  return value
}

function normalizeOptions (options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object') throw invalidArg('options must be an object')
  const secureTransport = options.secureTransport === undefined ? 'off' : options.secureTransport
  if (secureTransport !== 'off' && secureTransport !== 'on' && secureTransport !== 'starttls') {
    throw invalidArg(`options.secureTransport must be 'off', 'on' or 'starttls', got ${describe(secureTransport)}`)
  }
  const allowHalfOpen = flag(options, 'allowHalfOpen') ?? false
  const highWaterMark = nonNegative(options, 'highWaterMark') ?? DEFAULT_HIGH_WATER_MARK
  const noDelay = flag(options, 'noDelay') ?? true
  let keepAlive
  if (options.keepAlive === undefined || options.keepAlive === false) {
    keepAlive = undefined
  } else if (options.keepAlive === true) {
    keepAlive = 0
  } else {
    keepAlive = nonNegative(options, 'keepAlive')
  }
  const connectTimeout = clampTimeout(nonNegative(options, 'connectTimeout'))
  const closeTimeout = clampTimeout(nonNegative(options, 'closeTimeout') ?? DEFAULT_CLOSE_TIMEOUT)
  const signal = options.signal
  if (signal !== undefined && !isAbortSignal(signal)) {
    throw invalidArg('options.signal must be an AbortSignal')
  }
  return {
    secureTransport,
    allowHalfOpen,
    highWaterMark,
    noDelay,
    keepAlive,
    connectTimeout: connectTimeout || undefined,
    closeTimeout,
    signal,
    raw: options
  }
}

function clampTimeout (ms) {
  return ms === undefined ? undefined : Math.min(ms, TIMEOUT_MAX)
}

function isAbortSignal (s) {
  return s !== null && typeof s === 'object' && typeof s.aborted === 'boolean' &&
    typeof s.addEventListener === 'function'
}

function describe (v) {
  return typeof v === 'string' ? `'${v}'` : typeof v === 'object' ? (v === null ? 'null' : 'an object') : String(v)
}

module.exports = { parseTarget, normalizeOptions }
