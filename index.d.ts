// Environment-neutral on purpose: the stream and AbortSignal types are the
// ambient ones of the consumer's project (Node's, the DOM's, or the Workers
// types), so a Socket fits wherever that environment's Socket is expected.

/**
 * sockets-api: the Sockets API `connect()` (as `cloudflare:sockets`) for Node.js.
 * TCP, TLS and Unix domain sockets whose ends are WHATWG streams.
 */

/** A TCP address as a host name or IP literal and a port. */
export interface SocketAddress {
  /** A host name, an IPv4 literal, or an IPv6 literal (bare or bracketed). */
  hostname: string
  /** An integer from 1 to 65535. */
  port: number
}

/** A Unix domain socket address. */
export interface UnixSocketAddress {
  path: string
}

/** PEM text, DER or PEM bytes. */
export type TlsMaterial = string | ArrayBufferView | ArrayBuffer

/** TLS options, with the names and meanings of Node's `tls.connect()`. */
export interface TlsOptions {
  /** Trusted CA certificates; replaces the system roots when given. */
  ca?: TlsMaterial | TlsMaterial[]
  /** Client certificate chain (PEM). */
  cert?: TlsMaterial | TlsMaterial[]
  /** Client private key (PEM: PKCS#8, PKCS#1 or SEC1, optionally encrypted). */
  key?: TlsMaterial | TlsMaterial[]
  /** Passphrase of an encrypted `key` or of `pfx`. */
  passphrase?: string
  /** Client certificate and key as PKCS#12. */
  pfx?: TlsMaterial | TlsMaterial[]
  /** Verify the server's certificate and name (default: true). */
  rejectUnauthorized?: boolean
  /** Name sent in SNI and checked against the certificate (default: the hostname). */
  servername?: string
  /** Alias of `servername`. */
  sni?: string
  /** ALPN protocols to offer. */
  alpn?: string[]
  /** Alias of `alpn` (Node's name); also takes the wire format. */
  ALPNProtocols?: string[] | ArrayBufferView
  /**
   * Resume an earlier session with the same server (name and address) and
   * the same TLS options, as Node's `https.Agent` does (default `true`;
   * OpenSSL platforms). Never sends early data.
   */
  sessionResumption?: boolean
}

export interface SocketOptions extends TlsOptions {
  /** `'off'` (default), `'on'` (TLS from the first byte) or `'starttls'`. */
  secureTransport?: 'off' | 'on' | 'starttls'
  /** Keep the writable open after the peer ends its side (default: false). */
  allowHalfOpen?: boolean
  /** Writable backpressure threshold in bytes (default: 65536). */
  highWaterMark?: number
  /** TCP_NODELAY (default: true). */
  noDelay?: boolean
  /** TCP keep-alive: `true`, or the initial delay in ms (default: off). */
  keepAlive?: boolean | number
  /** ms until a connect (and TLS handshake) in progress fails with `ETIMEDOUT`. */
  connectTimeout?: number
  /**
   * ms that `close()` waits on a peer that takes none of the remaining
   * accepted writes before it resets the connection and `closed` rejects
   * with `ETIMEDOUT` (default: 30000; 0 waits as long as the connection lives).
   */
  closeTimeout?: number
  /** Aborting it closes the socket with `signal.reason`. */
  signal?: AbortSignal
  /** Other keys are ignored. */
  [key: string]: unknown
}

/** Options of `startTls()`; defaults come from the `connect()` options. */
export interface StartTlsOptions extends TlsOptions {
  /** Name to verify and send in SNI. */
  expectedServerHostname?: string
  [key: string]: unknown
}

export interface SocketInfo {
  /** `ip:port` (`[ipv6]:port`), or the path of a Unix socket. */
  remoteAddress: string
  /** `ip:port`; absent for a Unix socket whose local end has no name (the usual case). */
  localAddress?: string
  /** The negotiated ALPN protocol, or null. */
  alpn: string | null
  /** TLS sockets only (an extension): the negotiated version, as `'TLSv1.3'`. */
  tlsProtocol?: string | null
  /** TLS sockets only (an extension): the server's certificate, a Node `crypto.X509Certificate`. */
  peerCertificate?: PeerCertificate | null
  /** TLS sockets only (an extension): whether an earlier session was resumed (node:tls's `isSessionReused()`). */
  sessionReused?: boolean
}

/** The members of Node's `crypto.X509Certificate` used most (the object is a full one). */
export interface PeerCertificate {
  readonly subject: string
  readonly issuer: string
  readonly subjectAltName: string | undefined
  readonly validFrom: string
  readonly validTo: string
  readonly fingerprint256: string
  readonly serialNumber: string
  readonly raw: Uint8Array
}

export declare class Socket {
  private constructor()
  /** A byte stream: BYOB readers work. */
  readonly readable: ReadableStream<Uint8Array>
  /** Takes strings (UTF-8), ArrayBuffers and any ArrayBufferView. */
  readonly writable: WritableStream<Uint8Array | ArrayBuffer | ArrayBufferView | string>
  /** Resolves once connected (and, for TLS, after the handshake and certificate check). */
  readonly opened: Promise<SocketInfo>
  /** Resolves when the socket is fully closed; rejects if the connection broke. */
  readonly closed: Promise<void>
  readonly upgraded: boolean
  readonly secureTransport: 'off' | 'on' | 'starttls'
  /**
   * Flushes what the writable accepted, sends FIN and releases the socket.
   * Idempotent; returns `closed`. With a reason, aborts instead.
   */
  close(reason?: unknown): Promise<void>
  /** Upgrades a `secureTransport: 'starttls'` socket to TLS; returns the TLS socket. */
  startTls(options?: StartTlsOptions): Socket
}

/** The error of every failure: a TypeError whose message starts with "SocketError: ". */
export declare class SocketError extends TypeError {
  constructor(message: string, details?: { code?: string, syscall?: string, address?: string, port?: number, cause?: unknown })
  /** `ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`, `ENOTFOUND`, `CERT_HAS_EXPIRED`, ... */
  readonly code?: string
  readonly syscall?: string
  readonly address?: string
  readonly port?: number
}

/**
 * Opens a socket. Returns at once; invalid addresses and options throw a
 * `SocketError` synchronously, connection failures reject `opened`.
 */
export declare function connect(
  address: string | SocketAddress | UnixSocketAddress,
  options?: SocketOptions
): Socket
