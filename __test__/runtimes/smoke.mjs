// The cross-runtime suite (checks.mjs) through this package's native entry,
// under any runtime that runs it: prints "ok (N checks)" and exits 0, or
// throws. workerd runs the same checks through the Workers entry
// (runtimes.test.js).
//   node __test__/runtimes/smoke.mjs      bun __test__/runtimes/smoke.mjs
//   deno run --allow-ffi --allow-net --allow-read --allow-env __test__/runtimes/smoke.mjs

import { connect, SocketError } from '../../index.mjs'
import { startServers } from './servers.mjs'
import { runChecks } from './checks.mjs'

const servers = await startServers()
try {
  const passed = await runChecks({ connect, SocketError, ports: servers.ports, tls: { ca: servers.ca }, codes: true })
  // And one check of the native entry's own: a bad address throws at once.
  let threw = null
  try { connect('no-port') } catch (e) { threw = e }
  if (!(threw instanceof SocketError)) throw new Error('check failed: an invalid address throws a SocketError at once')
  passed.push('invalid address')
  console.log(`ok (${passed.length} checks)`)
} finally {
  servers.close()
}
