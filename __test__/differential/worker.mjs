// Runs one scenario in workerd against its own cloudflare:sockets.
import { connect } from 'cloudflare:sockets'
import { scenarios } from './scenarios.mjs'

export default {
  async fetch (request) {
    const q = new URL(request.url).searchParams
    try {
      return Response.json({ observed: await scenarios[q.get('scenario')](connect, JSON.parse(q.get('ports'))) })
    } catch (e) {
      return Response.json({ failed: String((e && e.stack) || e) })
    }
  }
}
