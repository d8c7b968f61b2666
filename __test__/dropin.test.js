'use strict'

// A drop-in for @arrowood.dev/socket: the same named exports, and code
// written against it runs unchanged on this package.

const test = require('node:test')
const assert = require('node:assert/strict')
const arrowood = require('@arrowood.dev/socket')
const ours = require('sockets-api')
const { listen } = require('./helpers')

test('the same named exports as @arrowood.dev/socket, of the same kinds', () => {
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(arrowood).sort())
  for (const name of Object.keys(arrowood)) assert.equal(typeof ours[name], typeof arrowood[name], name)
  assert.ok(new ours.SocketError('x') instanceof TypeError)
})

/** Usage as @arrowood.dev/socket documents it: write, read the reply, close. */
async function exchange ({ connect }, port) {
  const socket = connect(`localhost:${port}`)
  const writer = socket.writable.getWriter()
  const encoder = new TextEncoder()
  await writer.write(encoder.encode('hello'))
  writer.releaseLock()
  const reader = socket.readable.getReader()
  const { value } = await reader.read()
  reader.releaseLock()
  await socket.close()
  return new TextDecoder().decode(value)
}

test('code written for @arrowood.dev/socket gives the same result on sockets-api', async (t) => {
  const srv = await listen((s) => s.on('data', (d) => s.write(`echo:${d}`)), 'localhost')
  t.after(() => srv.close())
  assert.equal(await exchange(arrowood, srv.port), 'echo:hello')
  assert.equal(await exchange(ours, srv.port), 'echo:hello')
})
