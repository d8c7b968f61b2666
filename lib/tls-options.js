'use strict'

// TLS options with Node's names: which are picked, how PEM, ALPN and the
// server name are read, and what the environment adds (NODE_EXTRA_CA_CERTS,
// NODE_TLS_REJECT_UNAUTHORIZED).

const fs = require('node:fs')
const { SocketError, invalidArg } = require('./errors')

// TLS options, with Node's names. Unknown keys are ignored.

const TLS_KEYS = ['ca', 'cert', 'key', 'passphrase', 'pfx', 'rejectUnauthorized',
  'servername', 'sni', 'expectedServerHostname', 'alpn', 'ALPNProtocols', 'sessionResumption']

function pickTls (options) {
  const out = {}
  if (options && typeof options === 'object') {
    for (const k of TLS_KEYS) if (options[k] !== undefined) out[k] = options[k]
  }
  return out
}

function toPemBytes (value, name) {
  if (typeof value === 'string') return Buffer.from(value, 'utf8')
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  throw invalidArg(`options.${name} must be a string, a Buffer or an array of them`)
}

function pemList (value, name) {
  if (value === undefined || value === null) return undefined
  const list = Array.isArray(value) ? value : [value]
  return list.map((v) => toPemBytes(v, name))
}

function joinPem (list) {
  if (!list || list.length === 0) return undefined
  const parts = []
  for (const b of list) {
    parts.push(b, Buffer.from('\n'))
  }
  return new Uint8Array(Buffer.concat(parts))
}

function alpnList (value, name) {
  if (value === undefined || value === null) return undefined
  if (Array.isArray(value)) {
    return value.map((p) => {
      if (typeof p === 'string' && p.length > 0 && p.length < 256) return p
      if (ArrayBuffer.isView(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1')
      throw invalidArg(`options.${name} must be an array of protocol names`)
    })
  }
  if (ArrayBuffer.isView(value)) {
    // Node also takes the wire format: length-prefixed names.
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    const names = []
    for (let i = 0; i < bytes.length;) {
      const len = bytes[i]
      if (len === 0 || i + 1 + len > bytes.length) throw invalidArg(`options.${name} is not a valid ALPN list`)
      names.push(bytes.toString('latin1', i + 1, i + 1 + len))
      i += 1 + len
    }
    return names
  }
  if (typeof value === 'string') return [value]
  throw invalidArg(`options.${name} must be an array of protocol names`)
}

let extraCaCache
function extraCa () {
  if (extraCaCache !== undefined) return extraCaCache
  extraCaCache = []
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (file) {
    try {
      extraCaCache = [new Uint8Array(fs.readFileSync(file))]
    } catch (e) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${e.message}`)
    }
  }
  return extraCaCache
}

let insecureWarned = false
function rejectUnauthorizedDefault () {
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    if (!insecureWarned) {
      insecureWarned = true
      process.emitWarning(
        "Setting the NODE_TLS_REJECT_UNAUTHORIZED environment variable to '0' makes TLS connections " +
        'and HTTPS requests insecure by disabling certificate verification.')
    }
    return false
  }
  return true
}

/** A string option that is passed to C (no interior NUL), or undefined. */
function cString (tls, name) {
  const value = tls[name]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw invalidArg(`options.${name} must be a string`)
  if (value.includes('\0')) {
    throw new SocketError(`options.${name} must not contain NUL characters`, { code: 'ERR_INVALID_ARG_VALUE' })
  }
  return value
}

/**
 * The name verified against the server's certificate (and sent in SNI).
 * As in node:tls, an empty name means "not given": the connect host is
 * verified, and `localhost` over a Unix socket. No name ever turns the
 * check off; only rejectUnauthorized: false does.
 */
function verifiedName (tls, hostname) {
  const given = [cString(tls, 'expectedServerHostname'), cString(tls, 'servername'), cString(tls, 'sni')]
  return given.find((name) => name) || hostname || 'localhost'
}

/** Builds the native TLS options; `hostname` is the connect target's name. */
function nativeTls (tls, hostname) {
  const servername = verifiedName(tls, hostname)
  let rejectUnauthorized = tls.rejectUnauthorized
  if (rejectUnauthorized === undefined) {
    rejectUnauthorized = rejectUnauthorizedDefault()
  } else if (typeof rejectUnauthorized !== 'boolean') {
    throw invalidArg('options.rejectUnauthorized must be a boolean')
  }
  const resumption = tls.sessionResumption ?? true
  if (typeof resumption !== 'boolean') throw invalidArg('options.sessionResumption must be a boolean')
  const passphrase = cString(tls, 'passphrase')
  const keys = pemList(tls.key, 'key')
  const pfx = pemList(tls.pfx, 'pfx')
  return {
    ca: pemList(tls.ca, 'ca'),
    extraCa: extraCa(),
    cert: joinPem(pemList(tls.cert, 'cert')),
    key: keys && keys[0],
    passphrase,
    pfx: pfx && pfx[0],
    rejectUnauthorized,
    servername: servername.replace(/^\[(.*)\]$/, '$1'),
    alpn: alpnList(tls.ALPNProtocols ?? tls.alpn, tls.ALPNProtocols !== undefined ? 'ALPNProtocols' : 'alpn'),
    sessionResumption: resumption
  }
}

module.exports = { pickTls, nativeTls }
