'use strict'

// The writable's underlying sink: captures each chunk at writer.write(),
// writes it to the native socket as far as the socket takes it and the rest
// as the socket drains, and ends the writing half (the flush of what was
// accepted, then FIN) for close(), for the writable's own close, and before
// a STARTTLS hand-over.

const { errorFromDetail, closedError } = require('./errors')
const { handled, deferred, RESOLVED } = require('./deferred')
const { Fifo } = require('./fifo')
const { toBytes } = require('./chunks')
const { Gathering } = require('./gather')
const { writeFrom } = require('./native')

const EPIPE = { code: 'EPIPE', message: 'write EPIPE' }
const EMPTY = new Uint8Array(0)

/**
 * `link` is the socket's side: `opened` (a promise), `fail(error)` and
 * `writableClosed()`.
 */
class SocketSink {
  #link
  #native = null // set when the connection is open
  #open = false
  #wc = null // the stream's controller
  #accepted = new Fifo() // chunks given to writer.write() not yet handed to the sink
  #pending = null // bytes of the chunk being written that the socket has not taken yet
  #inflight = null // promise of that chunk's completion
  #waiter = null // runs when the socket may take more
  #done = false // FIN sent or writing impossible
  #ending = null // promise of the final flush (and FIN)
  #onConsumed = null // called when the sink takes a chunk
  #progress = 0 // counts writes that moved bytes, for close()'s stall check
  #failure = null
  #last = null // the chunk accepted last, until the sink takes it
  #gathering = new Gathering() // this turn's small chunks (see gather.js)
  #endTurn = null // the microtask that sends them, queued when the first comes
  #rest = null // what the socket did not take of a short-cut write, on its way to the stream

  constructor (link) {
    this.#link = link
  }

  get done () { return this.#done }
  get progress () { return this.#progress }

  // --- the stream's calls ----------------------------------------------------

  /**
   * The stream starts when the connection is open. `opened` settles on
   * every way a socket ends, so a writable errored before it (close(reason)
   * before open) does not wait on it for long.
   */
  start (c) {
    this.#wc = c
    return this.#link.opened
  }

  write (chunk) {
    const entry = this.#take(chunk)
    // Being flushed by close() or startTls(): done when its bytes are.
    if (entry.sent) return entry.flushed.promise
    if (entry.error) throw this.#failWith(entry.error)
    if (this.#ending || this.#done || !this.#open) throw this.#failure ?? closedError()
    // Gathered bytes the socket has not all taken yet go first.
    if (this.#inflight !== null && entry.bytes.byteLength > 0) {
      return this.#inflight.then(() => this.#send(entry.bytes))
    }
    return this.#send(entry.bytes)
  }

  close () { return this.#closeWritable() }

  abort () {
    this.#accepted.clear()
    this.#last = null
    return this.#closeWritable()
  }

  /**
   * The queuing strategy's size(), which runs inside writer.write(): the
   * chunk is validated and converted once, and remembered as accepted so
   * that close() can flush it even while the writable is locked.
   */
  accept (chunk) {
    const rest = this.#rest !== null && chunk === this.#rest
    const bytes = rest ? chunk : toBytes(chunk)
    const entry = { chunk, bytes, sent: false, error: null, handed: false, consumed: false }
    const prev = this.#last
    this.#last = entry
    this.#accepted.push(entry)
    if (rest) {
      // What the socket did not take of a short-cut write: already a copy,
      // and sent when the sink takes it.
      this.#rest = null
    } else {
      this.#capture(entry, prev, typeof chunk === 'string')
    }
    return bytes.byteLength
  }

  // --- the socket's calls ----------------------------------------------------

  /** The connection is open: writes may go out. */
  open (native) {
    this.#native = native
    this.#open = true
  }

  /** Readiness reported the socket writable. */
  onWritable () {
    const wake = this.#waiter
    if (wake === null) return
    this.#waiter = null
    wake()
  }

  /** Whether writer.write() accepted chunks not yet flushed. */
  hasAccepted () {
    return !this.#gathering.empty || this.#accepted.items().some((e) => !e.sent && e.bytes.byteLength > 0)
  }

  /** Sends everything the writable accepted, then FIN (once). */
  end () {
    if (this.#ending) return this.#ending
    this.#ending = this.#flushAccepted().then(() => this.#shutdown())
    handled(this.#ending)
    return this.#ending
  }

  /**
   * end() at once, when nothing accepted is still on its way (close() of a
   * socket between writes, the usual case): FIN goes out now and no promise
   * is made. False when it cannot (end() then does it); a failure fails the
   * socket.
   */
  endNow () {
    if (this.#ending || this.#done || !this.#open) return false
    if (this.#last !== null || this.#inflight !== null) return false
    this.#sendGathered()
    if (!this.#open) return true // the gathered bytes' send failed the socket
    if (this.#pending !== null) return false
    const r = this.#native.shutdown()
    if (r === 0) return false // TLS close_notify waits for room: end() goes on
    this.#ending = RESOLVED
    if (r < 0) {
      this.#ioFailure()
      return true
    }
    this.#done = true
    return true
  }

  /**
   * Sends what was accepted so far and refuses later writes, without FIN:
   * before a STARTTLS hand-over.
   */
  flush () {
    this.#ending = this.#flushAccepted()
    return this.#ending
  }

  /** Errors the writable with `error`: nothing more is written. */
  error (error) {
    this.#accepted.clear()
    this.#last = null
    this.#gathering.clear()
    this.#pending = null
    this.#done = true
    if (this.#wc) {
      try { this.#wc.error(error) } catch {}
    }
  }

  /** The connection broke: writes fail with `error`. */
  failed (error) {
    this.#failure = error
    this.error(error)
  }

  /** The socket is released: a write waiting for room fails. */
  stop () {
    this.#open = false
    this.#done = true
    this.onWritable()
  }

  // --- writing ---------------------------------------------------------------

  /**
   * A chunk is captured when writer.write() is called: what goes out is what
   * the buffer held then, however the caller reuses it afterwards. When
   * every earlier chunk is already in the socket's hands, a small chunk is
   * gathered (a copy), to go out with the turn's others at its end, and a
   * larger one is written at once, after anything gathered, with only what
   * the socket did not take copied. Otherwise the whole chunk is copied (a
   * string's bytes are already a copy) and sent when the sink takes it.
   */
  #capture (entry, prev, owned) {
    const bytes = entry.bytes
    if (bytes.byteLength === 0) return
    if (!this.#canSendNow() || !(prev === null || prev.consumed || prev.handed)) {
      if (!owned) entry.bytes = bytes.slice()
      return
    }
    const r = this.#sendNow(bytes, owned)
    if (r === true) {
      entry.bytes = EMPTY
      entry.handed = true
    } else if (r instanceof Uint8Array) {
      entry.bytes = r
    } else {
      // Reported by the sink when it gets to this chunk, not from inside
      // writer.write().
      entry.error = r.error
      entry.bytes = EMPTY
    }
  }

  /**
   * writer.write()'s short cut, taken when the writable holds no chunk
   * (queued or in flight): `chunk` goes to the socket now, or is gathered,
   * without passing through the stream's queue. Returns true when it was
   * all handed over, the bytes still to send (a copy) when the socket took
   * only part, an error when the connection failed, and false when the
   * short cut does not apply (the stream's own path then runs as usual).
   */
  tryWrite (chunk) {
    if (!this.#canSendNow() || this.#last !== null) return false
    if (!(chunk instanceof Uint8Array) && typeof chunk !== 'string') return false
    const bytes = toBytes(chunk)
    if (bytes.byteLength === 0) return false
    const r = this.#sendNow(bytes, typeof chunk === 'string')
    if (r === true) return true
    if (r instanceof Uint8Array) {
      this.#rest = r
      return r
    }
    return this.#failWith(r.error)
  }

  #canSendNow () {
    return this.#open && this.#pending === null && !this.#ending && !this.#done
  }

  /**
   * Sends `bytes` (`owned`: a copy of ours already) when every earlier chunk
   * is in the socket's hands: gathered when small, else after anything
   * gathered. Returns true (handed over), the bytes still to send (a copy),
   * or `{ error }`.
   */
  #sendNow (bytes, owned) {
    if (Gathering.takes(bytes)) {
      if (!this.#gathering.fits(bytes)) this.#sendGathered()
      if (this.#pending !== null) return owned ? bytes : bytes.slice()
      const first = this.#gathering.empty
      this.#gathering.add(bytes)
      if (first) {
        if (this.#endTurn === null) this.#endTurn = () => this.#sendGathered()
        RESOLVED.then(this.#endTurn)
      }
      return true
    }
    this.#sendGathered()
    if (this.#pending !== null) return owned ? bytes : bytes.slice()
    const n = writeFrom(this.#native, bytes)
    if (n > 0) this.#progress++
    if (n === bytes.byteLength) return true
    if (n < 0) return { error: this.#native.takeError() || EPIPE }
    return bytes.slice(n)
  }

  /**
   * Sends the chunks gathered in this turn as one write; what the socket
   * does not take (copied out of the shared arena) drains before anything
   * later goes out.
   */
  #sendGathered () {
    const bytes = this.#gathering.take()
    if (bytes === null || !this.#open || this.#done) return
    const n = writeFrom(this.#native, bytes)
    if (n > 0) this.#progress++
    if (n === bytes.byteLength) return
    if (n < 0) {
      this.#ioFailure()
      return
    }
    this.#pending = bytes.slice(n)
    this.#inflight = handled(this.#drain())
  }

  #take (chunk) {
    const q = this.#accepted
    let found = null
    while (q.length > 0 && found === null) {
      const entry = q.shift()
      entry.consumed = true
      if (entry === this.#last) this.#last = null
      if (entry.chunk === chunk) found = entry
    }
    if (this.#onConsumed) this.#onConsumed()
    return found || { chunk, bytes: toBytes(chunk), sent: false }
  }

  /**
   * Waits until the writable has handed every chunk of `batch` (already sent
   * by close() or startTls()) to the sink, so their write() promises resolve
   * before the writable is closed to further writes. The sink takes chunks
   * in order, so the last one tells.
   */
  async #settle (batch) {
    const last = batch[batch.length - 1]
    while (last && !last.consumed && this.#open) {
      await new Promise((resolve) => { this.#onConsumed = resolve })
      this.#onConsumed = null
    }
  }

  /** Sends `bytes`: at once if the socket takes them, else as it drains. */
  #send (bytes) {
    if (bytes.byteLength === 0) return
    const n = writeFrom(this.#native, bytes)
    if (n > 0) this.#progress++
    if (n === bytes.byteLength) return
    if (n < 0) throw this.#ioFailure()
    this.#pending = bytes.subarray(n)
    const p = this.#drain()
    this.#inflight = p
    return p
  }

  /** Writes the rest of the current chunk each time the socket is writable. */
  #drain () {
    return new Promise((resolve, reject) => {
      const resume = () => {
        if (!this.#open) {
          this.#inflight = null
          reject(this.#failure ?? closedError())
          return
        }
        const bytes = this.#pending
        const n = writeFrom(this.#native, bytes)
        if (n > 0) this.#progress++
        if (n === bytes.byteLength) {
          this.#pending = this.#inflight = null
          resolve()
        } else if (n < 0) {
          this.#inflight = null
          reject(this.#ioFailure())
        } else {
          this.#pending = bytes.subarray(n)
          this.#waiter = resume
        }
      }
      this.#waiter = resume
    })
  }

  #ioFailure () {
    return this.#failWith(this.#native.takeError() || EPIPE)
  }

  /** Fails the connection with the error `detail` describes; returns the error. */
  #failWith (detail) {
    const error = errorFromDetail(detail)
    this.#link.fail(error)
    return this.#failure ?? error
  }

  /**
   * Sends everything the writable accepted so far, the chunk in flight first.
   * The chunks are marked at once, so the sink skips them when it gets to
   * them, and their write() promises resolve before this does.
   */
  #flushAccepted () {
    this.#sendGathered()
    const batch = this.#accepted.items().filter((e) => !e.sent)
    for (const e of batch) {
      e.sent = true
      e.flushed = deferred()
    }
    return (async () => {
      try {
        if (!this.#open && !this.#done) await this.#link.opened
        if (this.#inflight) await this.#inflight
        for (const e of batch) {
          if (!this.#open) break
          if (e.error) throw this.#failWith(e.error)
          const p = this.#send(e.bytes)
          if (p) await p
          e.flushed.resolve()
        }
      } catch (e) {
        for (const entry of batch) entry.flushed.reject(e)
        throw e
      }
      // Not sent: the connection ended first.
      const unsent = batch.filter((e) => !e.flushed.settled)
      if (unsent.length > 0) {
        const error = this.#failure ?? closedError()
        for (const e of unsent) e.flushed.reject(error)
      }
      await this.#settle(batch)
    })()
  }

  /** Sends FIN (after TLS close_notify), waiting while the socket is full. */
  async #shutdown () {
    if (this.#done || !this.#open) return
    for (;;) {
      const r = this.#native.shutdown()
      if (r === 1) break
      if (r < 0) throw this.#ioFailure()
      await new Promise((resolve) => { this.#waiter = resolve })
      if (!this.#open) return
    }
    this.#done = true
  }

  /** The writable's user closed (or aborted) it. */
  async #closeWritable () {
    await this.end()
    this.#link.writableClosed()
  }
}

module.exports = { SocketSink }
