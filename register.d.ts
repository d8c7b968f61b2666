// Types for code run under the register hook (`node --import
// sockets-api/register`): `import { connect } from 'cloudflare:sockets'`
// type-checks against this package's types. Load them with
// `import 'sockets-api/register'` or `"types": ["sockets-api/register"]` in
// tsconfig.json (not together with @cloudflare/workers-types, which declares
// the same module for Workers). A script, not a module, so that the
// declaration below is ambient.

declare module 'cloudflare:sockets' {
  export { connect, Socket, SocketError } from 'sockets-api'
  export type {
    SocketAddress, UnixSocketAddress, TlsMaterial, TlsOptions, SocketOptions, StartTlsOptions,
    SocketInfo, PeerCertificate
  } from 'sockets-api'
}
