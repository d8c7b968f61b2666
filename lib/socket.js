'use strict'

// The Socket: its lifecycle, the readable's byte source, the writable's sink,
// close(), startTls() and the hand-over of the connection.

const { X509Certificate } = require('node:crypto')
const {
  NativeSocket, EV_OPENED, EV_FAILED, EV_READY, READABLE, WRITABLE, READ_EOF, WOULD_BLOCK, currentTurn
} = require('./native')
const { SocketError, errorFromDetail, errorFromNative, invalidArg, closedError } = require('./errors')
const { handled, deferred } = require('./deferred')
const { Fifo } = require('./fifo')
const { pickTls, nativeTls } = require('./tls-options')
const { toBytes } = require('./chunks')
const { SocketWritable } = require('./writable')

/** Bytes asked of the socket per read by a default reader. */
const READ_CHUNK = 256 * 1024
/** Bytes read ahead while nobody reads (more than one read's worth only if reads are small). */
const READ_AHEAD_LIMIT = 64 * 1024

// The read buffer of default reads, shared by every socket of this thread:
// a read and the taking of its bytes happen in one synchronous step, so no
// socket needs a buffer of its own while it waits (2,000 idle sockets would
// otherwise hold 2,000 of them).
let scratch = null

const kInternal = Symbol('sockets-api.internal')

class Socket {
  #native = null
  #state = 'connecting' // 'connecting' | 'open' | 'closed'
  #secureTransport
  #allowHalfOpen
  #highWaterMark
  #tlsDefaults
  #hostname
  #connectTimeout
  #closeTimeout
  #signal
  #onAbort = null

  #opened = deferred()
  #closed = deferred()
  #upgraded = false
  #closeCalled = false
  #failure = null // the error that broke the connection

  #readable
  #rc = null // readable byte stream controller
  #readWaiter = null // resolves when the socket may have data
  #readDone = false // no more reads: EOF, cancelled or closed
  #pulling = false // a read request is waiting on pull()
  #inRead = false // inside a read (enqueue may ask for the next one)
  #pullAgain = false // it did: read again before waiting
  #ahead = [] // chunks read while nobody was reading
  #aheadBytes = 0
  #drained = false // the last read was short: the socket was empty
  #deliveredTurn = -1 // event-loop turn in which a read last got data

  #writable
  #wc = null // writable stream controller
  #writeStart = deferred()
  #accepted = new Fifo() // chunks given to writer.write() not yet handed to the sink
  #pending = null // bytes of the chunk being written that the socket has not taken yet
  #inflight = null // promise of that chunk's completion
  #writeWaiter = null
  #writeDone = false // FIN sent or writing impossible
  #ending = null // promise of the final flush and FIN
  #onConsumed = null // called when the sink takes a chunk
  #progress = 0 // counts writes that moved bytes, for close()'s stall check

  constructor (token, target, opts, upgradeFrom) {
    if (token !== kInternal) throw new TypeError('Illegal constructor: use connect()')
    this.#secureTransport = opts.secureTransport
    this.#allowHalfOpen = opts.allowHalfOpen
    this.#highWaterMark = opts.highWaterMark
    this.#connectTimeout = opts.connectTimeout
    this.#closeTimeout = opts.closeTimeout
    this.#hostname = target && target.hostname
    this.#tlsDefaults = opts.tlsDefaults || pickTls(opts.raw)
    this.#signal = opts.signal
    this.#readable = this.#makeReadable()
    this.#writable = this.#makeWritable()
    this.#opened.promise.then((info) => this.#writeStart.resolve(info), (e) => this.#writeStart.reject(e))

    if (upgradeFrom) return // the old socket hands its connection over
    const native = new NativeSocket((kind, bits, detail) => this.#onEvent(kind, bits, detail))
    this.#native = native
    try {
      const direct = native.connect(target, {
        noDelay: opts.noDelay,
        keepAlive: opts.keepAlive,
        connectTimeout: opts.connectTimeout,
        tls: opts.secureTransport === 'on' ? nativeTls(this.#tlsDefaults, this.#hostname) : undefined
      })
      if (direct && opts.connectTimeout) this.#keepConnectTimeout(opts.connectTimeout, target)
    } catch (e) {
      native.close()
      throw e instanceof SocketError ? e : errorFromNative(e)
    }
    this.#watchSignal()
  }

  get readable () { return this.#readable }
  get writable () { return this.#writable }
  get opened () { return this.#opened.promise }
  get closed () { return this.#closed.promise }
  get upgraded () { return this.#upgraded }
  get secureTransport () { return this.#secureTransport }

  /**
   * Flushes what the writable accepted, sends FIN and releases the socket.
   * With a reason: aborts instead (nothing more is sent) and rejects a
   * pending `opened` with it. Returns `closed`.
   */
  close (reason) {
    if (this.#closeCalled) return this.#closed.promise
    this.#closeCalled = true
    // After startTls() the connection belongs to the TLS socket: `closed`
    // resolves when the hand-off is done, and nothing else happens here.
    if (this.#state === 'closed' || this.#upgraded) return this.#closed.promise
    // Before open with nothing accepted, or with a reason: nothing is sent.
    // Accepted writes are never dropped by close(): the connection is let
    // complete (bounded by connectTimeout), they are sent, then FIN, as
    // workerd and node:net's end() do.
    if (reason !== undefined || (this.#state === 'connecting' && !this.#hasAccepted())) {
      this.#abort(reason === undefined ? closedError() : reason)
      return this.#closed.promise
    }
    this.#cancelReadable()
    const stopWatching = this.#watchFlush()
    this.#endWriting().then(() => {
      stopWatching()
      this.#errorWritable(closedError())
      this.#finish()
    }, (e) => {
      stopWatching()
      this.#fail(e)
    })
    return this.#closed.promise
  }

  /**
   * close() waits while the peer takes the accepted writes, but not forever:
   * after `closeTimeout` ms in which it took nothing, the connection is reset
   * and `closed` rejects with ETIMEDOUT (the unsent bytes are lost, and said so).
   */
  #watchFlush () {
    const limit = this.#closeTimeout
    if (!limit) return () => {}
    let seen = this.#progress
    const timer = setInterval(() => {
      // Still connecting (close() before open with writes accepted): that
      // wait is connectTimeout's to bound; the flush is watched once open.
      if (this.#progress !== seen || this.#state === 'connecting') {
        seen = this.#progress
        return
      }
      clearInterval(timer)
      if (this.#state !== 'open') return
      this.#native.resetOnClose()
      this.#fail(new SocketError(`close() gave up after the peer took no data for ${limit} ms`, {
        code: 'ETIMEDOUT', syscall: 'write'
      }))
    }, limit)
    // The socket itself keeps the process alive while it flushes.
    if (timer.unref) timer.unref()
    return () => clearInterval(timer)
  }

  startTls (options) {
    if (this.#secureTransport !== 'starttls') {
      throw new SocketError("secureTransport must be set to 'starttls'", { code: 'ERR_INVALID_STATE' })
    }
    if (this.#upgraded) throw new SocketError('can only call startTls once', { code: 'ERR_INVALID_STATE' })
    if (this.#state === 'closed' || this.#closeCalled) throw closedError()
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw invalidArg('startTls options must be an object')
    }
    const tls = nativeTls({ ...this.#tlsDefaults, ...pickTls(options) }, this.#hostname)
    this.#upgraded = true
    const next = new Socket(kInternal, { hostname: this.#hostname }, {
      secureTransport: 'on',
      allowHalfOpen: this.#allowHalfOpen,
      highWaterMark: this.#highWaterMark,
      connectTimeout: this.#connectTimeout,
      closeTimeout: this.#closeTimeout,
      tlsDefaults: this.#tlsDefaults
    }, this)
    this.#handOver(next, tls)
    return next
  }

  // --- connection events ----------------------------------------------------

  #onEvent (kind, bits, detail) {
    if (kind === EV_READY && this.#state === 'connecting') {
      // Connecting outside the native runtime: writability tells that
      // the attempt is over, one way or the other.
      const outcome = this.#native.dialOutcome()
      if (outcome) this.#onEvent(outcome.code ? EV_FAILED : EV_OPENED, 0, outcome)
    } else if (kind === EV_READY) {
      // A TLS session may need to write in order to read (or the reverse),
      // so on a TLS socket any readiness retries both directions.
      if (this.#secureTransport === 'on') bits |= READABLE | WRITABLE
      if (bits & READABLE && this.#readWaiter) {
        const wake = this.#readWaiter
        this.#readWaiter = null
        wake()
      }
      if (bits & WRITABLE && this.#writeWaiter) {
        const wake = this.#writeWaiter
        this.#writeWaiter = null
        wake()
      }
    } else if (kind === EV_OPENED) {
      if (this.#state !== 'connecting') return
      this.#state = 'open'
      queueMicrotask(() => this.#readAhead())
      // TCP: both addresses. A Unix socket's local end is unnamed as a
      // rule; then localAddress is absent (as the Workers types allow).
      const info = { remoteAddress: detail.remoteAddress }
      if (detail.localAddress) info.localAddress = detail.localAddress
      info.alpn = detail.alpn ?? null
      if (this.#secureTransport === 'on') {
        // Beyond the standard SocketInfo: what node:tls's getProtocol() and
        // getPeerX509Certificate() tell.
        info.tlsProtocol = detail.tlsProtocol ?? null
        info.peerCertificate = detail.peerCertificate ? new X509Certificate(detail.peerCertificate) : null
      }
      this.#opened.resolve(info)
    } else if (kind === EV_FAILED) {
      this.#fail(errorFromDetail(detail))
    }
  }

  /**
   * The connect timeout, when the native side leaves it to us (a TCP
   * connection made outside its runtime): closing the native socket ends
   * every stage.
   */
  #keepConnectTimeout (ms, target) {
    const timer = setTimeout(() => {
      if (this.#state !== 'connecting') return
      this.#fail(new SocketError(`connect ETIMEDOUT ${target.hostname}:${target.port}`, {
        code: 'ETIMEDOUT', syscall: 'connect', address: target.hostname, port: target.port
      }))
    }, ms)
    const clear = () => clearTimeout(timer)
    this.#opened.promise.then(clear, clear)
  }

  #watchSignal () {
    const signal = this.#signal
    if (!signal) return
    if (signal.aborted) {
      this.close(signal.reason)
      return
    }
    this.#onAbort = () => this.close(signal.reason)
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** The end of everything: releases the native socket, settles `closed`. */
  #finish (error) {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#native) this.#native.close()
    if (this.#onAbort) {
      this.#signal.removeEventListener('abort', this.#onAbort)
      this.#onAbort = null
    }
    this.#readDone = true
    this.#writeDone = true
    if (error === undefined) {
      this.#opened.reject(closedError())
      this.#closed.resolve()
    } else {
      this.#opened.reject(error)
      this.#closed.reject(error)
    }
    const rw = this.#readWaiter
    const ww = this.#writeWaiter
    this.#readWaiter = this.#writeWaiter = null
    if (rw) rw()
    if (ww) ww()
  }

  /** A broken connection: every pending operation fails with `error`. */
  #fail (error) {
    if (this.#state === 'closed') return
    this.#failure = error
    if (this.#rc) {
      try { this.#rc.error(error) } catch {}
    }
    this.#errorWritable(error)
    this.#finish(error)
  }

  /** close(reason) or close() before the connection is made: nothing more is sent. */
  #abort (reason) {
    this.#cancelReadable()
    this.#errorWritable(reason)
    this.#opened.reject(reason)
    this.#finish()
  }

  // --- reading --------------------------------------------------------------

  #makeReadable () {
    return new ReadableStream({
      type: 'bytes',
      start: (c) => { this.#rc = c },
      pull: (c) => this.#pull(c),
      cancel: () => {
        this.#readDone = true
        if (this.#writeDone) this.#finish()
      }
    }, { highWaterMark: 0 })
  }

  #pull (c) {
    if (this.#readDone) return
    if (this.#inRead) {
      // Called from inside enqueue()/respond() for the next waiting read
      // request: #tryRead goes on with it once the current read is done.
      this.#pullAgain = true
      return
    }
    this.#pulling = true
    if (this.#state === 'connecting') {
      return this.#opened.promise.then(() => this.#tryRead(), () => this.#pulled())
    }
    this.#tryRead()
  }

  /**
   * Reads what is there; if nothing is, the read request stays pending and
   * this runs again from the readiness callback, which fills it (enqueue
   * fulfils a waiting request): no promise per wait.
   */
  #tryRead = () => {
    try {
      for (;;) {
        this.#inRead = true
        const done = this.#readNow(this.#rc)
        this.#inRead = false
        if (!done) {
          this.#readWaiter = this.#tryRead
          return
        }
        if (!this.#pullAgain) break
        this.#pullAgain = false
      }
      this.#pulled()
    } catch (e) {
      // Not expected; must not escape into the readiness callback.
      this.#inRead = false
      this.#fail(e)
    }
  }

  #pulled () {
    this.#pulling = false
    this.#readAhead()
  }

  /** One read: false when the socket had nothing (readiness is then armed). */
  #readNow (c) {
    if (this.#readDone || this.#state !== 'open') return true
    if (this.#ahead.length > 0) {
      this.#flushAhead(c) // fills a pending BYOB request too; any rest stays queued
      this.#deliveredTurn = currentTurn()
      return true
    }
    const req = c.byobRequest
    const want = req ? req.view.byteLength : READ_CHUNK
    const n = req ? this.#native.read(req.view) : this.#readChunk()
    if (n > 0) {
      // A short read emptied the socket (a TLS read goes on record after
      // record until the socket has nothing more, so the same holds there);
      // the native side armed readability for what comes next.
      this.#drained = n < want
      if (req) {
        req.respond(n)
      } else {
        c.enqueue(this.#takeChunk(n))
      }
      this.#deliveredTurn = currentTurn()
      return true
    }
    if (n === WOULD_BLOCK) return false
    this.#readEnded(n)
    return true
  }

  /**
   * While nobody reads, keep reading ahead (up to READ_AHEAD_LIMIT bytes), as
   * node:net fills its buffer: this is how a peer's FIN or reset is noticed
   * (and the socket released) even when the application is not reading.
   */
  #readAhead () {
    while (!this.#readDone && this.#state === 'open' && !this.#pulling &&
      this.#aheadBytes < READ_AHEAD_LIMIT) {
      if (this.#drained) {
        // The last read came back short: the socket was empty then (and
        // readability was armed), so wait instead of a read that would
        // almost surely block.
        this.#drained = false
        this.#readWaiter = () => this.#readAhead()
        return
      }
      const n = this.#readChunk()
      if (n > 0) {
        this.#drained = n < READ_CHUNK
        this.#ahead.push(this.#takeChunk(n))
        this.#aheadBytes += n
      } else if (n === WOULD_BLOCK) {
        this.#readWaiter = () => this.#readAhead()
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
    return this.#native.read(scratch)
  }

  /**
   * The first n bytes of the read buffer as a chunk of their own. A chunk's
   * ArrayBuffer holds that chunk and nothing else: the read buffer is
   * shared by every socket, so only a read that filled it is handed over
   * whole; any other is copied out (which also keeps a kept chunk from
   * holding a 256 KiB buffer alive).
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
      this.#onPeerEnd()
    } else {
      this.#fail(errorFromDetail(this.#native.takeError() || { code: 'EIO', message: 'read EIO' }))
    }
  }

  /** Ends the readable normally: reads resolve done. */
  #endReadable () {
    if (this.#readDone) return
    this.#readDone = true
    const c = this.#rc
    const req = c.byobRequest
    try {
      c.close()
      if (req) req.respond(0)
    } catch {}
    this.#wakeReader()
  }

  /**
   * close(): reads already waiting resolve done; with none waiting, the
   * readable errors so that later reads fail with a TypeError.
   */
  #cancelReadable () {
    if (this.#readDone) return
    // A read loop that got its last chunk in this same turn of the event
    // loop is between two reads, not done reading: its next read ends the
    // loop (done) instead of failing, as if it had been waiting.
    if (this.#pulling || this.#deliveredTurn === currentTurn()) {
      this.#endReadable()
      return
    }
    this.#readDone = true
    try { this.#rc.error(closedError()) } catch {}
  }

  #wakeReader () {
    const wake = this.#readWaiter
    this.#readWaiter = null
    if (wake) wake()
  }

  #onPeerEnd () {
    this.#endReadable()
    if (this.#writeDone) {
      this.#finish()
    } else if (!this.#allowHalfOpen) {
      // As node:net with allowHalfOpen: false: our side ends too.
      this.#endWriting().then(() => {
        this.#errorWritable(closedError())
        this.#finish()
      }, (e) => this.#fail(e))
    }
  }

  // --- writing --------------------------------------------------------------

  #makeWritable () {
    return new SocketWritable({
      start: (c) => {
        this.#wc = c
        return this.#writeStart.promise
      },
      write: (chunk) => this.#write(chunk),
      close: () => this.#closeWritable(),
      abort: () => {
        this.#accepted.clear()
        return this.#closeWritable()
      }
    }, {
      // At least one byte: with 0, `ready` would never resolve at all.
      highWaterMark: Math.max(1, this.#highWaterMark),
      // Runs inside writer.write(): the chunk is validated and converted
      // once, and remembered as accepted so that close() can flush it even
      // while the writable is locked.
      size: (chunk) => {
        const bytes = toBytes(chunk)
        const entry = { chunk, bytes, sent: false, error: null }
        this.#accepted.push(entry)
        this.#capture(entry, typeof chunk === 'string')
        return bytes.byteLength
      }
    })
  }

  /**
   * A chunk is captured when writer.write() is called: what goes out is what
   * the buffer held then, however the caller reuses it afterwards. When
   * nothing is waiting to be sent, the chunk is written at once, and only
   * what the socket did not take is copied; otherwise the whole chunk is
   * copied (a string's bytes are already a copy).
   */
  #capture (entry, owned) {
    const bytes = entry.bytes
    if (bytes.byteLength === 0) return
    if (this.#state === 'open' && this.#pending === null && this.#accepted.length === 1 &&
      !this.#ending && !this.#writeDone && !this.#closeCalled && !this.#upgraded) {
      // Every earlier chunk was handed to the socket: this one may go now.
      const n = this.#native.write(bytes)
      if (n > 0) this.#progress++
      if (n === bytes.byteLength) {
        entry.bytes = bytes.subarray(n)
        return
      }
      if (n < 0) {
        // Reported by the sink when it gets to this chunk, not from inside
        // writer.write().
        entry.error = this.#native.takeError() || { code: 'EPIPE', message: 'write EPIPE' }
        entry.bytes = bytes.subarray(0, 0)
        return
      }
      entry.bytes = bytes.slice(n)
      return
    }
    if (!owned) entry.bytes = bytes.slice()
  }

  /** Whether writer.write() accepted chunks not yet flushed. */
  #hasAccepted () {
    return this.#accepted.items().some((e) => !e.sent && e.bytes.byteLength > 0)
  }

  #takeAccepted (chunk) {
    const q = this.#accepted
    let found = null
    while (q.length > 0 && found === null) {
      const entry = q.shift()
      entry.consumed = true
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
    while (last && !last.consumed && this.#state === 'open') {
      await new Promise((resolve) => { this.#onConsumed = resolve })
      this.#onConsumed = null
    }
  }

  #write (chunk) {
    const entry = this.#takeAccepted(chunk)
    // Being flushed by close() or startTls(): done when its bytes are.
    if (entry.sent) return entry.flushed.promise
    if (entry.error) {
      this.#fail(errorFromDetail(entry.error))
      throw this.#failure
    }
    if (this.#ending || this.#writeDone || this.#state !== 'open') throw this.#failure ?? closedError()
    return this.#send(entry.bytes)
  }

  /** Sends `bytes`: at once if the socket takes them, else as it drains. */
  #send (bytes) {
    if (bytes.byteLength === 0) return
    const n = this.#native.write(bytes)
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
        if (this.#state !== 'open') {
          this.#inflight = null
          reject(this.#failure ?? closedError())
          return
        }
        const bytes = this.#pending
        const n = this.#native.write(bytes)
        if (n > 0) this.#progress++
        if (n === bytes.byteLength) {
          this.#pending = this.#inflight = null
          resolve()
        } else if (n < 0) {
          this.#inflight = null
          reject(this.#ioFailure())
        } else {
          this.#pending = bytes.subarray(n)
          this.#writeWaiter = resume
        }
      }
      this.#writeWaiter = resume
    })
  }

  #ioFailure () {
    const error = errorFromDetail(this.#native.takeError() || { code: 'EPIPE', message: 'write EPIPE' })
    this.#fail(error)
    return error
  }

  /** Sends everything the writable accepted, then FIN. */
  #endWriting () {
    if (this.#ending) return this.#ending
    this.#ending = this.#flushAccepted().then(() => this.#shutdownWrite())
    handled(this.#ending)
    return this.#ending
  }

  /**
   * Sends everything the writable accepted so far, the chunk in flight first.
   * The chunks are marked at once, so the sink skips them when it gets to
   * them, and their write() promises resolve before this does.
   */
  #flushAccepted () {
    const batch = this.#accepted.items().filter((e) => !e.sent)
    for (const e of batch) {
      e.sent = true
      e.flushed = deferred()
    }
    return (async () => {
      try {
        if (this.#state === 'connecting') await this.#opened.promise
        if (this.#inflight) await this.#inflight
        for (const e of batch) {
          if (this.#state !== 'open') break
          if (e.error) {
            this.#fail(errorFromDetail(e.error))
            throw this.#failure
          }
          const p = this.#send(e.bytes)
          if (p) await p
          e.flushed.resolve()
        }
      } catch (e) {
        for (const entry of batch) entry.flushed.reject(e)
        throw e
      }
      // Not sent: the connection ended first.
      for (const e of batch) e.flushed.reject(this.#failure ?? closedError())
      await this.#settle(batch)
    })()
  }

  /** Sends FIN (after TLS close_notify), waiting while the socket is full. */
  async #shutdownWrite () {
    if (this.#writeDone || this.#state !== 'open') return
    for (;;) {
      const r = this.#native.shutdown()
      if (r === 1) break
      if (r < 0) throw this.#ioFailure()
      await new Promise((resolve) => { this.#writeWaiter = resolve })
      if (this.#state !== 'open') return
    }
    this.#writeDone = true
  }

  /** The writable's user closed (or aborted) it. */
  async #closeWritable () {
    await this.#endWriting()
    if (this.#readDone) this.#finish()
  }

  #errorWritable (error) {
    this.#accepted.clear()
    this.#pending = null
    this.#writeDone = true
    if (this.#wc) {
      try { this.#wc.error(error) } catch {}
    }
    this.#writeStart.reject(error)
  }

  // --- STARTTLS -------------------------------------------------------------

  /**
   * Ends this socket's streams, flushes what was accepted in plain text and
   * moves the connection into `next`, which runs the TLS handshake.
   */
  async #handOver (next, tls) {
    // Nothing read from here on may reach the plaintext readable.
    this.#endReadable()
    let native
    try {
      // Writes accepted so far (taken now, synchronously) go out in plain
      // text before the ClientHello; later ones are refused.
      this.#ending = this.#flushAccepted()
      await this.#ending
      if (next.#closeCalled) throw closedError()
      if (this.#state !== 'open') throw closedError()
      native = this.#native.upgrade((kind, bits, detail) => next.#onEvent(kind, bits, detail),
        tls, this.#connectTimeout)
    } catch (e) {
      const err = e instanceof SocketError || !(e instanceof Error) ? e : errorFromNative(e)
      next.#fail(err)
      if (next.#closeCalled) {
        this.#finish() // the TLS socket was closed first: nothing failed here
      } else {
        this.#fail(err)
      }
      return
    }
    next.#native = native
    this.#errorWritable(closedError())
    this.#finish()
  }
}

/** A new socket connecting to `target` (parsed) with `opts` (normalized). */
function openSocket (target, opts) {
  return new Socket(kInternal, target, opts)
}

module.exports = { Socket, openSocket }
