'use strict'

const { SocketError } = require('./errors')

/**
 * The socket's WritableStream.
 *
 * A write after the writable's close was requested is a rejected promise (a
 * TypeError, as in workerd): Node's own WritableStream instead throws
 * ERR_INTERNAL_ASSERTION synchronously there, or errors itself and leaves
 * the close pending (nodejs/node#57272, Node 20 to 24), so such a write
 * never reaches it.
 *
 * A write while the stream holds no chunk (none queued, none in flight)
 * goes straight to the sink, which sends it now: the stream's queue would
 * only pass it through, at a few microseconds per write. Its promise is
 * then already resolved; the stream's state (desiredSize, ready) is what
 * it would be once that write completed.
 */
class SocketWritable extends WritableStream {
  // One field: on Node 20 every stream has a map of its own (its
  // constructor copies it into a transferable object), so each field
  // added to it makes a new map.
  #own

  constructor (sink, strategy) {
    super(sink, strategy)
    this.#own = { sink, highWaterMark: strategy.highWaterMark, closeRequested: false }
  }

  getWriter () {
    const writer = super.getWriter()
    const { write, close, releaseLock } = writer
    const own = this.#own
    const sink = own.sink
    let attached = true
    let unsettled = 0 // writes through the stream not yet settled
    const settled = () => { unsettled-- }
    writer.write = function (chunk) {
      if (attached) {
        if (own.closeRequested) {
          return Promise.reject(new SocketError('the writable is closed', { code: 'ERR_INVALID_STATE' }))
        }
        // desiredSize: null while erroring or errored; below the mark while
        // chunks of an earlier writer are queued.
        if (this === writer && unsettled === 0 && writer.desiredSize === own.highWaterMark) {
          const r = sink.tryWrite(chunk)
          if (r === true) return Promise.resolve()
          if (r instanceof Error) return Promise.reject(r)
          if (r !== false) chunk = r // the part the socket did not take
        }
      }
      const p = write.call(this, chunk)
      unsettled++
      p.then(settled, settled)
      return p
    }
    writer.close = function () {
      if (attached) own.closeRequested = true
      return close.call(this)
    }
    writer.releaseLock = function () {
      attached = false
      return releaseLock.call(this)
    }
    return writer
  }

  close () {
    if (!this.locked) this.#own.closeRequested = true
    return super.close()
  }
}

module.exports = { SocketWritable }
