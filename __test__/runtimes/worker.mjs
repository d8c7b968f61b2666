// The cross-runtime suite as a Worker: imports `sockets-api` (bundled with
// the Workers conditions, so the runtime's own connect()) and runs
// checks.mjs against the ports given in the request.
import { connect, SocketError } from 'sockets-api'
import { runChecks } from './checks.mjs'

export default {
  async fetch (request) {
    const ports = JSON.parse(new URL(request.url).searchParams.get('ports'))
    try {
      // The CA is trusted by the worker's network service (its config).
      const passed = await runChecks({ connect, SocketError, ports, tls: {}, codes: false })
      return new Response(`ok (${passed.length} checks)`)
    } catch (e) {
      return new Response(String((e && e.stack) || e), { status: 500 })
    }
  }
}
