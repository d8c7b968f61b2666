// `node --import sockets-api/register app.js` (or importing this module
// first) makes the specifier `cloudflare:sockets` resolve to sockets-api,
// for `import`, dynamic `import()` and `require`.

import module, { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const SPECIFIER = 'cloudflare:sockets'
const esmUrl = new URL('./index.mjs', import.meta.url).href
const cjsPath = createRequire(import.meta.url).resolve('./index.js')
const cjsUrl = pathToFileURL(cjsPath).href

if (typeof module.registerHooks === 'function') {
  // Node 22.15+ / 23.5+: synchronous hooks cover import and require alike.
  module.registerHooks({
    resolve (specifier, context, nextResolve) {
      if (specifier === SPECIFIER) {
        const required = context.conditions?.includes('require')
        return required
          ? { url: cjsUrl, format: 'commonjs', shortCircuit: true }
          : { url: esmUrl, format: 'module', shortCircuit: true }
      }
      return nextResolve(specifier, context)
    }
  })
} else {
  // Node 20 and early 22: asynchronous hooks for import, and require's own
  // resolver for require.
  module.register('./register-hooks.mjs', import.meta.url)
  const Module = module.Module || module
  const original = Module._resolveFilename
  Module._resolveFilename = function (request, ...rest) {
    if (request === SPECIFIER) return cjsPath
    return original.call(this, request, ...rest)
  }
}
