'use strict'

// What the writable accepts, as bytes.

const { SocketError } = require('./errors')

const encoder = new TextEncoder()

/**
 * The exact bytes of a value the writable accepts, as a plain Uint8Array; a
 * TypeError otherwise. Plain, because the sink copies with slice(), which on
 * a Buffer (or another subclass) may return a view instead of a copy.
 */
function toBytes (chunk) {
  if (chunk instanceof Uint8Array) {
    return Object.getPrototypeOf(chunk) === Uint8Array.prototype
      ? chunk
      : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  }
  if (typeof chunk === 'string') return encoder.encode(chunk)
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  if (chunk instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && chunk instanceof SharedArrayBuffer)) {
    return new Uint8Array(chunk)
  }
  throw new SocketError(
    `the writable accepts strings, ArrayBuffers and ArrayBuffer views, got ${chunk === null ? 'null' : typeof chunk}`,
    { code: 'ERR_INVALID_ARG_TYPE' })
}

module.exports = { toBytes }
