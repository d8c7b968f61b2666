// `node --import ./bench/arrowood-sockets.mjs`: `cloudflare:sockets` is
// @arrowood.dev/socket (a node:net-based implementation), so that a
// driver's Workers adapter can be measured over another cloudflare:sockets.
import { register } from 'node:module'

const hooks = `
export async function resolve (specifier, context, next) {
  return next(specifier === 'cloudflare:sockets' ? '@arrowood.dev/socket' : specifier, context)
}`
register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url)
