'use strict'

/**
 * The socket's ReadableStream (a byte stream over `SocketSource`).
 *
 * A default reader's read() while the stream holds nothing (no chunk
 * queued, no read pending) is served by the source directly, past the
 * stream's queue: with a chunk read ahead, or what one read of the socket
 * returns, it resolves at once; with nothing there it waits in the source
 * for readiness and is resolved from there. A byte stream's read request,
 * pull and enqueue() (which transfers the chunk's buffer and makes a new
 * view of it) cost a few microseconds a read. The stream is then as it
 * would be once that read completed; a read made while one waits goes
 * through the stream, after it. BYOB readers, async iteration and pipes
 * always go through the stream.
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
    let unsettled = 0 // reads not yet settled
    const settled = () => { unsettled-- }
    reader.read = function (...args) {
      if (attached && this === reader && unsettled === 0) {
        const r = source.takeOrWait()
        if (r instanceof Uint8Array) return Promise.resolve({ value: r, done: false })
        if (r !== null) {
          unsettled++
          r.then(settled, settled)
          return r
        }
      }
      const p = read.apply(this, args)
      unsettled++
      p.then(settled, settled)
      return p
    }
    reader.releaseLock = function () {
      const r = releaseLock.call(this)
      if (this === reader && attached) {
        attached = false
        source.readerReleased()
      }
      return r
    }
    return reader
  }
}

module.exports = { SocketReadable }
