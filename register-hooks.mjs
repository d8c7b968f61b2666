// Module customization hooks (run off the main thread) used by register.mjs
// on Node versions without module.registerHooks.

const target = new URL('./index.mjs', import.meta.url).href

export async function resolve (specifier, context, nextResolve) {
  if (specifier === 'cloudflare:sockets') return { url: target, format: 'module', shortCircuit: true }
  return nextResolve(specifier, context)
}
