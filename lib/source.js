'use strict'

// The readable's underlying byte source: reads from the native socket when a
// reader asks (into its BYOB view, or a chunk of its own) and, while nobody
// asks, reads ahead a little so that the peer's FIN or reset is noticed.

const { READ_EOF, WOULD_BLOCK, currentTurn, readInto } = require('./native')
const { errorFromDetail, closedError } = require('./errors')
const { RESOLVED } = require('./deferred')

/** Bytes asked of the socket per read by a default reader. */
const READ_CHUNK = 128 * 1024
/** Bytes read ahead while nobody reads (more than one read's worth only if reads are small). */
const READ_AHEAD_LIMIT = 64 * 1024

// Where the read path is. Only IDLE reads ahead; only PULLING has a read
// request of the stream's waiting; READING and READING_AGAIN are inside a
// synchronous read (AGAIN: the stream asked for the next one meanwhile);
// WAITING has a default reader's read waiting outside the stream (the
// short cut of readable.js).
const IDLE = 0
const PULLING = 1
const READING = 2
const READING_AGAIN = 3
const DONE = 4 // no more reads: end of stream, cancelled, closed or failed
const WAITING = 5

// Who waits for readiness (a code rather than a callback: no closure per
// socket or per wait).
const NOBODY = 0
const TRY_READ = 1 // the stream's read request (#tryRead)
const READ_WAITING = 2 // the short cut's waiting read (#readWaiting)
const READ_AHEAD = 3 // reading ahead (#readAhead)

const RELEASED = 'Invalid state: Releasing reader'

// The read buffer of default reads, shared by every socket of this thread:
// a read and the taking of its bytes happen in one synchronous step, so no
// socket needs a buffer of its own while it waits (2,000 idle sockets would
// otherwise hold 2,000 of them).
let scratch = null

/**
 * `link` is the socket's side: `opened` (a promise), `fail(error)`,
 * `peerEnded()` and `readableCancelled()`.
 */
class SocketSource {
  type = 'bytes'
  #link
  #native = null // set when the connection is open
  #rc = null // the stream's controller
  #mode = IDLE
  #waiter = NOBODY // which read runs when the socket may have data
  #ahead = [] // chunks read while nobody was reading
  #aheadBytes = 0
  // A read came back short or would block, which arms readability, and no
  // readiness was reported since: the socket had nothing more, and the
  // next report tells when it has. (Each arming reports once.)
  #armed = false
  #deliveredTurn = -1 // event-loop turn in which a read last got data
  #readyTurn = -1 // the turn of the readiness callback running now, if any
  #reader = null // WAITING: the waiting read's { resolve, reject }
  #pullWanted = false // WAITING: the stream asked for a read meanwhile

  constructor (link) {
    this.#link = link
  }

  get done () { return this.#mode === DONE }

  // --- the stream's calls ----------------------------------------------------

  start (c) { this.#rc = c }

  pull () {
    const mode = this.#mode
    if (mode === DONE) return
    if (mode === WAITING) {
      // A read waiting outside the stream goes first.
      this.#pullWanted = true
      return
    }
    if (mode === READING || mode === READING_AGAIN) {
      // Called from inside enqueue()/respond() for the next waiting read
      // request: #tryRead goes on with it once the current read is done.
      this.#mode = READING_AGAIN
      return
    }
    this.#mode = PULLING
    if (this.#native === null) {
      return this.#link.opened.then(() => this.#tryRead(), () => this.#pulled())
    }
    this.#tryRead()
  }

  cancel () {
    this.#mode = DONE
    this.#settleWaiting(true)
    this.#link.readableCancelled()
  }

  /**
   * A default reader's short cut (see readable.js), only while nothing is
   * queued in the stream, no read is in progress and the stream is open: a
   * chunk there now (read ahead, or what one read of the socket returns);
   * with nothing there, a promise of the read's result, which waits here
   * for readiness instead of in the stream; null where the short cut does
   * not apply (the stream's own read then reports the end or a failure).
   */
  takeOrWait () {
    if (this.#mode !== IDLE || this.#native === null || this.#rc.desiredSize !== 0) return null
    let chunk
    if (this.#ahead.length > 0) {
      chunk = this.#ahead.shift()
      this.#aheadBytes -= chunk.byteLength
    } else {
      const n = this.#readChunk()
      if (n === WOULD_BLOCK) {
        this.#armed = true
        this.#mode = WAITING
        this.#waiter = READ_WAITING
        return new Promise((resolve, reject) => { this.#reader = { resolve, reject } })
      }
      if (n <= 0) {
        this.#readEnded(n)
        return null
      }
      this.#armed = n < READ_CHUNK
      chunk = this.#takeChunk(n)
    }
    this.#deliveredTurn = this.#turn()
    this.#readAhead()
    return chunk
  }

  /**
   * The reader was released: its waiting read fails, as the stream's own
   * pending reads do, and the source reads ahead again.
   */
  readerReleased () {
    if (this.#mode !== WAITING) return
    const error = new TypeError(RELEASED)
    error.code = 'ERR_INVALID_STATE'
    this.#settleWaiting(false, error)
    this.#readDone()
  }

  // --- the socket's calls ----------------------------------------------------

  /** The connection is open: reads may begin. */
  open (native) {
    this.#native = native
    RESOLVED.then(() => this.#readAhead())
  }

  /**
   * Readiness reported the socket readable, in event-loop turn `turn` (-1:
   * not known); a read it delivers records that turn.
   */
  onReadable (turn = -1) {
    this.#armed = false
    const wake = this.#waiter
    if (wake === NOBODY) return
    this.#waiter = NOBODY
    this.#readyTurn = turn
    try {
      if (wake === TRY_READ) this.#tryRead()
      else if (wake === READ_WAITING) this.#readWaiting()
      else this.#readAhead()
    } finally {
      this.#readyTurn = -1
    }
  }

  /** The event loop's turn: the readiness callback's, while inside it. */
  #turn () {
    return this.#readyTurn >= 0 ? this.#readyTurn : currentTurn()
  }

  /** Ends the readable normally: reads resolve done. */
  end () {
    if (this.#mode === DONE) return
    this.#mode = DONE
    this.#settleWaiting(true)
    const c = this.#rc
    const req = c.byobRequest
    try {
      c.close()
      if (req) req.respond(0)
    } catch {}
    this.onReadable()
  }

  /**
   * close(): reads already waiting resolve done; with none waiting, the
   * readable errors so that later reads fail with a TypeError.
   */
  cancelForClose (error = closedError()) {
    if (this.#mode === DONE) return
    // A read loop that got its last chunk in this same turn of the event
    // loop is between two reads, not done reading: its next read ends the
    // loop (done) instead of failing, as if it had been waiting.
    if (this.#mode === PULLING || this.#mode === WAITING || this.#deliveredTurn === currentTurn()) {
      this.end()
      return
    }
    this.#mode = DONE
    try { this.#rc.error(error) } catch {}
  }

  /** The connection broke: reads fail with `error`. */
  failed (error) {
    this.#mode = DONE
    this.#settleWaiting(false, error)
    try { this.#rc.error(error) } catch {}
  }

  /** The socket is released: nothing more is read. */
  stop () {
    this.#mode = DONE
    this.#settleWaiting(true)
    this.onReadable()
  }

  // --- reading ---------------------------------------------------------------

  /**
   * Reads what is there; if nothing is, the read request stays pending and
   * this runs again from the readiness callback, which fills it (enqueue
   * fulfils a waiting request): no promise per wait.
   */
  #tryRead () {
    try {
      for (;;) {
        if (this.#mode === DONE) break
        this.#mode = READING
        const done = this.#readNow(this.#rc)
        const again = this.#mode === READING_AGAIN
        if (this.#mode !== DONE) this.#mode = PULLING
        if (!done) {
          this.#waiter = TRY_READ
          return
        }
        if (!again) break
      }
      this.#pulled()
    } catch (e) {
      // Not expected; must not escape into the readiness callback.
      this.#link.fail(e)
    }
  }

  /** The waiting read's readiness callback: fills it, or waits again. */
  #readWaiting () {
    try {
      if (this.#mode !== WAITING) return
      const n = this.#readChunk()
      if (n === WOULD_BLOCK) {
        this.#armed = true
        this.#waiter = READ_WAITING
      } else if (n > 0) {
        this.#armed = n < READ_CHUNK
        const chunk = this.#takeChunk(n)
        this.#deliveredTurn = this.#turn()
        const reader = this.#reader
        this.#reader = null
        this.#mode = IDLE
        reader.resolve({ value: chunk, done: false })
        this.#readDone()
      } else {
        this.#readEnded(n) // settles it: end() or failed()
      }
    } catch (e) {
      this.#link.fail(e)
    }
  }

  /** Settles the waiting read, if any, with the end (done) or `error`. */
  #settleWaiting (done, error) {
    const reader = this.#reader
    if (reader === null) return
    this.#reader = null
    if (this.#mode === WAITING) this.#mode = IDLE
    if (done) reader.resolve({ value: undefined, done: true })
    else reader.reject(error)
  }

  /** After the waiting read: the stream's read asked for meanwhile, or reading ahead. */
  #readDone () {
    if (this.#pullWanted) {
      this.#pullWanted = false
      this.pull()
    } else {
      this.#readAhead()
    }
  }

  #pulled () {
    if (this.#mode !== DONE) this.#mode = IDLE
    this.#readAhead()
  }

  /** One read: false when the socket had nothing (readiness is then armed). */
  #readNow (c) {
    if (this.#ahead.length > 0) {
      this.#flushAhead(c) // fills a pending BYOB request too; any rest stays queued
      this.#deliveredTurn = this.#turn()
      return true
    }
    const req = c.byobRequest
    const want = req ? req.view.byteLength : READ_CHUNK
    const n = req ? readInto(this.#native, req.view) : this.#readChunk()
    if (n > 0) {
      // A short read emptied the socket (a TLS read goes on record after
      // record until the socket has nothing more, so the same holds there);
      // the native side armed readability for what comes next.
      this.#armed = n < want
      if (req) {
        req.respond(n)
      } else {
        c.enqueue(this.#takeChunk(n))
      }
      this.#deliveredTurn = this.#turn()
      return true
    }
    if (n === WOULD_BLOCK) {
      this.#armed = true
      return false
    }
    this.#readEnded(n)
    return true
  }

  /**
   * While nobody reads, keep reading ahead (up to READ_AHEAD_LIMIT bytes), as
   * node:net fills its buffer: this is how a peer's FIN or reset is noticed
   * (and the socket released) even when the application is not reading.
   */
  #readAhead () {
    while (this.#mode === IDLE && this.#aheadBytes < READ_AHEAD_LIMIT) {
      if (this.#armed) {
        // The socket was empty when last read, and nothing was reported
        // since: wait instead of a read that would almost surely block.
        this.#waiter = READ_AHEAD
        return
      }
      const n = this.#readChunk()
      if (n > 0) {
        this.#armed = n < READ_CHUNK
        this.#ahead.push(this.#takeChunk(n))
        this.#aheadBytes += n
      } else if (n === WOULD_BLOCK) {
        this.#armed = true
        this.#waiter = READ_AHEAD
        return
      } else {
        this.#readEnded(n)
        return
      }
    }
  }

  /** Hands the chunks read ahead to the stream, in order. */
  #flushAhead (c) {
    const chunks = this.#ahead
    this.#ahead = []
    this.#aheadBytes = 0
    for (const chunk of chunks) c.enqueue(chunk)
  }

  #readChunk () {
    if (scratch === null) {
      // Not zero-filled (the read overwrites it); a plain Uint8Array view,
      // so that slice() below copies into a plain Uint8Array.
      const b = Buffer.allocUnsafe(READ_CHUNK) // above the pool's size: a buffer of its own
      scratch = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    }
    return readInto(this.#native, scratch)
  }

  /**
   * The first n bytes of the read buffer as a chunk of their own. A chunk's
   * ArrayBuffer holds that chunk and nothing else: the read buffer is
   * shared by every socket, so only a read that filled it is handed over
   * whole; any other is copied out (which also keeps a kept chunk from
   * holding a 128 KiB buffer alive).
   */
  #takeChunk (n) {
    const buf = scratch
    if (n < buf.byteLength) return buf.slice(0, n)
    scratch = null // enqueue transfers its memory
    return buf
  }

  /** A read returned end of stream or failure. */
  #readEnded (n) {
    if (n === READ_EOF || n === 0) {
      // What was read ahead stays readable before the end.
      if (this.#ahead.length > 0) this.#flushAhead(this.#rc)
      this.end()
      this.#link.peerEnded()
    } else {
      this.#link.fail(errorFromDetail(this.#native.takeError() || { code: 'EIO', message: 'read EIO' }))
    }
  }
}

module.exports = { SocketSource }
