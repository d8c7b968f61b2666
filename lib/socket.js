'use strict'

// The Socket's lifecycle: connecting, open, closed; the events of the native
// handle; close(), the abort signal and the timeouts; startTls() and the
// hand-over of the connection. The readable's byte source is source.js, the
// writable's sink is sink.js.
//
// How a socket ends (every path ends in #finish, which releases the native
// handle and settles `opened` and `closed`):
//   close()            flush what was accepted, FIN, then #finish()
//   close(reason), or close() before open with nothing accepted
//                      #abort(): nothing more is sent
//   peer's FIN         the readable ends; #finish() once the writable is done
//                      too (allowHalfOpen: false ends it at once)
//   stream cancel/close  #finish() once the other half is done as well
//   a failure          #fail(error): both streams error, `closed` rejects
//   startTls()         #handOver(): the connection moves to the TLS socket

const { X509Certificate } = require('node:crypto')
const { NativeSocket, EV_OPENED, EV_FAILED, EV_READY, READABLE, WRITABLE } = require('./native')
const { SocketError, errorFromDetail, errorFromNative, invalidArg, closedError, streamsClosedError } = require('./errors')
const { deferred } = require('./deferred')
const { pickTls, nativeTls } = require('./tls-options')
const { SocketSource } = require('./source')
const { SocketSink } = require('./sink')
const { SocketReadable } = require('./readable')
const { SocketWritable } = require('./writable')

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

  #source
  #sink
  #readable
  #writable

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
    this.#makeStreams()

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

  // What the two halves need of the socket (see #makeStreams): shared
  // methods rather than closures per socket.
  static #linkMethods = {
    fail (error) { this.socket.#fail(error) },
    peerEnded () { this.socket.#onPeerEnd() },
    readableCancelled () { if (this.socket.#sink.done) this.socket.#finish() },
    writableClosed () { if (this.socket.#source.done) this.socket.#finish() }
  }

  #makeStreams () {
    const link = { __proto__: Socket.#linkMethods, socket: this, opened: this.#opened.promise }
    const source = this.#source = new SocketSource(link)
    const sink = this.#sink = new SocketSink(link)
    this.#readable = new SocketReadable(source, { highWaterMark: 0 })
    this.#writable = new SocketWritable(sink, {
      // At least one byte: with 0, `ready` would never resolve at all.
      highWaterMark: Math.max(1, this.#highWaterMark),
      size: (chunk) => sink.accept(chunk)
    })
  }

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
    if (reason !== undefined || (this.#state === 'connecting' && !this.#sink.hasAccepted())) {
      this.#abort(reason === undefined ? closedError() : reason)
      return this.#closed.promise
    }
    // One error for both halves.
    const closed = streamsClosedError()
    this.#source.cancelForClose(closed)
    if (this.#state === 'open' && this.#sink.endNow()) {
      this.#sink.error(closed)
      this.#finish()
      return this.#closed.promise
    }
    const stopWatching = this.#watchFlush()
    this.#sink.end().then(() => {
      stopWatching()
      this.#sink.error(closed)
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
    let seen = this.#sink.progress
    const timer = setInterval(() => {
      // Still connecting (close() before open with writes accepted): that
      // wait is connectTimeout's to bound; the flush is watched once open.
      if (this.#sink.progress !== seen || this.#state === 'connecting') {
        seen = this.#sink.progress
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
      // From the event loop's poll, `detail` is the loop's turn.
      if (bits & READABLE) this.#source.onReadable(typeof detail === 'number' ? detail : -1)
      if (bits & WRITABLE) this.#sink.onWritable()
    } else if (kind === EV_OPENED) {
      if (this.#state !== 'connecting') return
      this.#state = 'open'
      this.#source.open(this.#native)
      this.#sink.open(this.#native)
      this.#opened.resolve(this.#info(detail))
    } else if (kind === EV_FAILED) {
      this.#fail(errorFromDetail(detail))
    }
  }

  #info (detail) {
    // TCP: both addresses. A Unix socket's local end is unnamed as a
    // rule; then localAddress is absent (as the Workers types allow).
    const info = { remoteAddress: detail.remoteAddress }
    if (detail.localAddress) info.localAddress = detail.localAddress
    info.alpn = detail.alpn ?? null
    if (this.#secureTransport === 'on') {
      // Beyond the standard SocketInfo: what node:tls's getProtocol(),
      // getPeerX509Certificate() and isSessionReused() tell.
      info.tlsProtocol = detail.tlsProtocol ?? null
      info.peerCertificate = detail.peerCertificate ? new X509Certificate(detail.peerCertificate) : null
      info.sessionReused = detail.sessionReused === true
    }
    return info
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

  // --- the ways to end ------------------------------------------------------

  /** The end of everything: releases the native socket, settles `opened` and `closed`. */
  #finish (error) {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    if (this.#native) this.#native.close()
    if (this.#onAbort) {
      this.#signal.removeEventListener('abort', this.#onAbort)
      this.#onAbort = null
    }
    this.#source.stop()
    this.#sink.stop()
    if (error === undefined) {
      if (!this.#opened.settled) this.#opened.reject(closedError())
      this.#closed.resolve()
    } else {
      this.#opened.reject(error)
      this.#closed.reject(error)
    }
  }

  /** A broken connection: every pending operation fails with `error`. */
  #fail (error) {
    if (this.#state === 'closed') return
    this.#source.failed(error)
    this.#sink.failed(error)
    this.#finish(error)
  }

  /** close(reason) or close() before the connection is made: nothing more is sent. */
  #abort (reason) {
    this.#source.cancelForClose()
    this.#sink.error(reason)
    this.#opened.reject(reason)
    this.#finish()
  }

  /** The peer sent FIN (the readable has ended). */
  #onPeerEnd () {
    if (this.#sink.done) {
      this.#finish()
    } else if (!this.#allowHalfOpen) {
      // As node:net with allowHalfOpen: false: our side ends too.
      if (this.#sink.endNow()) {
        this.#sink.error(streamsClosedError())
        this.#finish()
        return
      }
      this.#sink.end().then(() => {
        this.#sink.error(streamsClosedError())
        this.#finish()
      }, (e) => this.#fail(e))
    }
  }

  // --- STARTTLS -------------------------------------------------------------

  /**
   * Ends this socket's streams, flushes what was accepted in plain text and
   * moves the connection into `next`, which runs the TLS handshake.
   */
  async #handOver (next, tls) {
    // Nothing read from here on may reach the plaintext readable.
    this.#source.end()
    let native
    try {
      // Writes accepted so far (taken now, synchronously) go out in plain
      // text before the ClientHello; later ones are refused.
      await this.#sink.flush()
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
    this.#sink.error(streamsClosedError())
    this.#finish()
  }
}

/** A new socket connecting to `target` (parsed) with `opts` (normalized). */
function openSocket (target, opts) {
  return new Socket(kInternal, target, opts)
}

module.exports = { Socket, openSocket }
