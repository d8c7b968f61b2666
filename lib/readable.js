'use strict'

/**
 * The socket's ReadableStream (a byte stream over `SocketSource`).
 *
 * A default reader's read() while the stream holds nothing (no chunk
 * queued, no read pending) takes what the source has now — a chunk read
 * ahead, or what one read of the socket returns — and resolves with it at
 * once, past the stream's queue: a byte stream's enqueue() transfers the
 * chunk's buffer and makes a new view of it, a few microseconds a read. The
 * stream is then as it would be once that read completed. With nothing
 * there, or in any other case, the read goes through the stream as usual.
 */
class SocketReadable extends ReadableStream {
  #source

  constructor (source, strategy) {
    super(source, strategy)
    this.#source = source
  }

  getReader (options) {
    const reader = super.getReader(options)
    if (!(reader instanceof ReadableStreamDefaultReader)) return reader // BYOB
    const { read, releaseLock } = reader
    const source = this.#source
    let attached = true
    let unsettled = 0 // reads through the stream not yet settled
    const settled = () => { unsettled-- }
    reader.read = function (...args) {
      if (attached && this === reader && unsettled === 0) {
        const chunk = source.takeNow()
        if (chunk !== null) return Promise.resolve({ value: chunk, done: false })
      }
      const p = read.apply(this, args)
      unsettled++
      p.then(settled, settled)
      return p
    }
    reader.releaseLock = function () {
      attached = false
      return releaseLock.call(this)
    }
    return reader
  }
}

module.exports = { SocketReadable }
