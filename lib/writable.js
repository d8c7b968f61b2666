'use strict'

const { SocketError } = require('./errors')

/**
 * The socket's WritableStream. A write after the writable's close was
 * requested is a rejected promise (a TypeError, as in workerd): Node's own
 * WritableStream instead throws ERR_INTERNAL_ASSERTION synchronously there,
 * or errors itself and leaves the close pending (nodejs/node#57272, Node 20
 * to 24), so such a write never reaches it.
 */
class SocketWritable extends WritableStream {
  #closeRequested = false

  getWriter () {
    const writer = super.getWriter()
    const { write, close, releaseLock } = writer
    const stream = this
    let attached = true
    writer.write = function (chunk) {
      if (attached && stream.#closeRequested) {
        return Promise.reject(new SocketError('the writable is closed', { code: 'ERR_INVALID_STATE' }))
      }
      return write.call(this, chunk)
    }
    writer.close = function () {
      if (attached) stream.#closeRequested = true
      return close.call(this)
    }
    writer.releaseLock = function () {
      attached = false
      return releaseLock.call(this)
    }
    return writer
  }

  close () {
    if (!this.locked) this.#closeRequested = true
    return super.close()
  }
}

module.exports = { SocketWritable }
