// A real exchange over loopback: this script starts its own servers.
//   npm run demo
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { connect } from 'sockets-api'

// A tiny line protocol: "UPPER <text>" answers the text in capitals,
// "QUIT" says goodbye and ends the connection.
function lineServer (sock) {
  let buffered = ''
  sock.setEncoding('utf8')
  sock.on('data', (data) => {
    buffered += data
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line === 'QUIT') {
        sock.end('BYE\n')
        return
      }
      sock.write(line.startsWith('UPPER ') ? `${line.slice(6).toUpperCase()}\n` : `ERR unknown command\n`)
    }
  })
  sock.write('HELLO from the server\n')
}

function listen (server, ...args) {
  return new Promise((resolve) => server.listen(...args, () => resolve(server)))
}

async function converse (address, label) {
  const socket = connect(address)
  const info = await socket.opened
  console.log(`[${label}] connected: local ${info.localAddress || '(unnamed)'} -> remote ${info.remoteAddress}`)

  const writer = socket.writable.getWriter()
  const lines = socket.readable.pipeThrough(new TextDecoderStream())
  const received = (async () => {
    let text = ''
    for await (const part of lines) text += part
    return text
  })()

  for (const line of ['UPPER sockets api in node', 'UPPER streams all the way down', 'QUIT']) {
    console.log(`[${label}] > ${line}`)
    await writer.write(`${line}\n`)
  }
  for (const line of (await received).trimEnd().split('\n')) console.log(`[${label}] < ${line}`)
  await socket.closed
  console.log(`[${label}] closed cleanly`)
}

const tcp = await listen(net.createServer(lineServer), 0, '127.0.0.1')
await converse(`127.0.0.1:${tcp.address().port}`, 'tcp')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-demo-'))
const unix = await listen(net.createServer(lineServer), path.join(dir, 'demo.sock'))
await converse({ path: path.join(dir, 'demo.sock') }, 'unix')

// Half-close: send everything, end our side, and still read the answer.
const counter = await listen(net.createServer((sock) => {
  let n = 0
  sock.on('data', (d) => { n += d.length })
  sock.on('end', () => sock.end(`you sent ${n} bytes\n`))
}), 0, '127.0.0.1')
const socket = connect({ hostname: '127.0.0.1', port: counter.address().port })
const writer = socket.writable.getWriter()
await writer.write(new Uint8Array(1024 * 1024))
await writer.close()
const reply = await new Response(socket.readable).text()
console.log(`[half-close] wrote 1 MiB, ended our side, server answered: ${reply.trim()}`)

tcp.close()
unix.close()
counter.close()
fs.rmSync(dir, { recursive: true, force: true })
