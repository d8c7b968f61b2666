// Scenarios run both in workerd (against its own cloudflare:sockets) and in
// Node (against sockets-api), each given `connect` and the loopback peers'
// ports. Each returns an observation: plain JSON of what a program can see.
// The test compares the two; differences must be listed, with a reason, in
// differences.json.

const enc = new TextEncoder()
const dec = new TextDecoder()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** How a promise stands after `ms`: resolved, rejected (with the error's class) or pending. */
async function state (promise, ms = 1000) {
  let result = 'pending'
  promise.then(() => { result = 'resolved' }, (e) => { result = `rejected ${kind(e)}` })
  for (let waited = 0; waited < ms && result === 'pending'; waited += 10) await sleep(10)
  return result
}

/** The class of an error as a program tells it: TypeError or Error. */
function kind (e) {
  return e instanceof TypeError ? 'TypeError' : e instanceof Error ? 'Error' : typeof e
}

function threw (f) {
  try {
    f()
    return 'no throw'
  } catch (e) {
    return `threw ${kind(e)}`
  }
}

async function readText (readable, limit = 1 << 20) {
  const reader = readable.getReader()
  let text = ''
  try {
    while (text.length < limit) {
      const { value, done } = await reader.read()
      if (done) break
      text += dec.decode(value)
    }
  } catch (e) {
    return { text, error: kind(e) }
  } finally {
    reader.releaseLock()
  }
  return { text }
}

async function readN (reader, n) {
  let text = ''
  while (text.length < n) {
    const { value, done } = await reader.read()
    if (done) break
    text += dec.decode(value)
  }
  return text
}

export const scenarios = {
  async 'address forms' (connect, p) {
    const out = {}
    for (const [name, address] of [['string', `127.0.0.1:${p.echo}`], ['object', { hostname: '127.0.0.1', port: p.echo }], ['name', `localhost:${p.echo}`]]) {
      const s = connect(address)
      out[name] = await state(s.opened)
      await s.close()
    }
    return out
  },

  async 'invalid addresses' (connect, p) {
    return {
      noPort: threw(() => connect('127.0.0.1')),
      emptyPort: threw(() => connect('127.0.0.1:')),
      port0: await outcome(connect, { hostname: '127.0.0.1', port: 0 }),
      port65536: await outcome(connect, { hostname: '127.0.0.1', port: 65536 }),
      emptyHost: await outcome(connect, { hostname: '', port: p.echo }),
      notAnAddress: threw(() => connect(42))
    }
  },

  async 'opened and closed on success' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const info = await s.opened
    const closedBefore = await state(s.closed, 50)
    const closing = s.close()
    return {
      remoteAddressIsString: typeof info.remoteAddress === 'string',
      closedBefore,
      closeIsClosed: closing === s.closed,
      closed: await state(s.closed)
    }
  },

  async 'refused' (connect, p) {
    const s = connect(`127.0.0.1:${p.refused}`)
    return { opened: await state(s.opened, 3000), closed: await state(s.closed, 3000) }
  },

  async 'reset by the peer' (connect, p) {
    const s = connect(`127.0.0.1:${p.reset}`)
    await s.opened
    const w = s.writable.getWriter()
    await w.write(enc.encode('x'))
    const r = await readText(s.readable)
    return { read: r.error ?? 'done', closed: await state(s.closed, 3000) }
  },

  async 'writes before open' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const w = s.writable.getWriter()
    const writes = [w.write(enc.encode('one ')), w.write(enc.encode('two'))]
    const r = s.readable.getReader()
    const text = await readN(r, 7)
    await Promise.all(writes)
    await s.close()
    return { text }
  },

  async 'write types' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const w = s.writable.getWriter()
    const out = {}
    out.uint8 = await state(w.write(enc.encode('a')))
    out.arrayBuffer = await state(w.write(enc.encode('b').buffer))
    out.dataView = await state(w.write(new DataView(enc.encode('c').buffer)))
    out.string = await state(w.write('d'))
    out.empty = await state(w.write(new Uint8Array(0)))
    out.number = await state(w.write(42).catch((e) => { throw e }))
    await s.close().catch(() => {})
    return out
  },

  async 'buffer reuse' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    await s.opened
    const w = s.writable.getWriter()
    const buf = new Uint8Array(4)
    const writes = []
    for (const word of ['aaaa', 'bbbb', 'cccc']) {
      buf.set(enc.encode(word))
      writes.push(w.write(buf))
    }
    buf.fill(0x7a)
    await Promise.all(writes)
    const text = await readN(s.readable.getReader(), 12)
    await s.close()
    return { text }
  },

  async 'peer FIN, allowHalfOpen false' (connect, p) {
    const s = connect(`127.0.0.1:${p.fin}`)
    const r = await readText(s.readable)
    await sleep(100)
    const w = s.writable.getWriter()
    const write = await state(w.write(enc.encode('late')))
    const closed = await state(s.closed)
    return { read: r, write, closed, closeAfter: await state(s.close()) }
  },

  async 'peer FIN, then close() at once' (connect, p) {
    const s = connect(`127.0.0.1:${p.fin}`)
    const r = await readText(s.readable)
    const close = await state(s.close())
    return { read: r, close, closed: await state(s.closed) }
  },

  async 'peer FIN, allowHalfOpen true' (connect, p) {
    const s = connect(`127.0.0.1:${p.fin}`, { allowHalfOpen: true })
    const r = await readText(s.readable)
    const w = s.writable.getWriter()
    const write = await state(w.write(enc.encode('late')))
    const closedBefore = await state(s.closed, 100)
    await s.close()
    return { read: r, write, closedBefore, closed: await state(s.closed) }
  },

  async 'close() before open, nothing written' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const closing = s.close()
    return { close: await state(closing), opened: await state(s.opened), closed: await state(s.closed) }
  },

  async 'close() before open keeps accepted writes' (connect, p) {
    const s = connect(`127.0.0.1:${p.record}`)
    const w = s.writable.getWriter()
    const write = w.write(enc.encode('kept'))
    const closing = s.close()
    const out = { write: await state(write), close: await state(closing), opened: await state(s.opened) }
    await sleep(100)
    out.peerGot = await (await fetchRecord(p)).text()
    return out
  },

  async 'close(reason) before open' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const closing = s.close(new Error('reason'))
    return { close: await state(closing), opened: await state(s.opened), closed: await state(s.closed) }
  },

  async 'close() when open, then again' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    await s.opened
    const r = s.readable.getReader()
    const pending = r.read()
    const first = await state(s.close())
    return {
      first,
      pendingRead: await pending.then((x) => (x.done ? 'done' : 'value'), (e) => `rejected ${kind(e)}`),
      again: await state(s.close()),
      writeAfter: await state(s.writable.getWriter().write(enc.encode('x')))
    }
  },

  async 'reader.cancel()' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    await s.opened
    const r = s.readable.getReader()
    const cancel = await state(r.cancel())
    const w = s.writable.getWriter()
    const write = await state(w.write(enc.encode('still')))
    const closed = await state(s.closed, 200)
    await s.close()
    return { cancel, write, closed }
  },

  async 'writer.close()' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const w = s.writable.getWriter()
    await w.write(enc.encode('echo me'))
    const closing = await state(w.close())
    // The echo peer ends after our FIN: what was sent still comes back.
    const r = await readText(s.readable)
    return { closing, read: r, afterClose: await state(w.write(enc.encode('x'))) }
  },

  async 'writer.abort()' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    await s.opened
    const w = s.writable.getWriter()
    const abort = await state(w.abort(new Error('stop')))
    await s.close().catch(() => {})
    return { abort, closed: await state(s.closed) }
  },

  async 'BYOB reads' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const w = s.writable.getWriter()
    await w.write(enc.encode('0123456789'))
    const r = s.readable.getReader({ mode: 'byob' })
    let text = ''
    while (text.length < 10) {
      const { value } = await r.read(new Uint8Array(4))
      text += dec.decode(value)
    }
    await s.close()
    return { text }
  },

  async 'backpressure' (connect, p) {
    const s = connect(`127.0.0.1:${p.echo}`)
    const w = s.writable.getWriter()
    const out = { desiredSizePositive: w.desiredSize > 0, ready: await state(w.ready) }
    await s.close()
    return out
  },

  async 'startTls() on the wrong mode, twice, after close' (connect, p) {
    const off = connect(`127.0.0.1:${p.echo}`)
    const on = connect(`localhost:${p.tls}`, { secureTransport: 'on' })
    const st = connect(`localhost:${p.starttls}`, { secureTransport: 'starttls' })
    const out = {
      off: threw(() => off.startTls()),
      on: threw(() => on.startTls())
    }
    st.startTls()
    out.twice = threw(() => st.startTls())
    const closed = connect(`localhost:${p.starttls}`, { secureTransport: 'starttls' })
    await closed.close()
    out.afterClose = threw(() => closed.startTls())
    for (const s of [off, on, st]) await s.close().catch(() => {})
    return out
  },

  async 'startTls() before open' (connect, p) {
    const s = connect(`localhost:${p.starttlsNow}`, { secureTransport: 'starttls' })
    const secure = s.startTls({ expectedServerHostname: 'localhost' })
    const out = { upgraded: s.upgraded, secureTransport: secure.secureTransport, opened: await state(secure.opened, 3000) }
    const w = secure.writable.getWriter()
    await w.write(enc.encode('over tls'))
    out.echo = await readN(secure.readable.getReader(), 8)
    out.plainClosed = await state(s.closed)
    await secure.close()
    return out
  },

  async 'startTls() with a wrong expectedServerHostname' (connect, p) {
    const s = connect(`localhost:${p.starttlsNow}`, { secureTransport: 'starttls' })
    const secure = s.startTls({ expectedServerHostname: 'wrong.example' })
    return { opened: await state(secure.opened, 3000), closed: await state(secure.closed, 3000) }
  },

  async 'the original streams after startTls()' (connect, p) {
    const s = connect(`localhost:${p.starttlsNow}`, { secureTransport: 'starttls' })
    await s.opened
    const secure = s.startTls()
    await secure.opened
    const out = {
      read: await attempt(() => s.readable.getReader().read().then((x) => (x.done ? 'done' : 'value'), (e) => `rejected ${kind(e)}`)),
      write: await attempt(() => state(s.writable.getWriter().write(enc.encode('plain')))),
      closeOld: await state(s.close())
    }
    await secure.close()
    return out
  },

  async 'error shape' (connect, p) {
    const s = connect(`127.0.0.1:${p.refused}`)
    const e = await s.opened.catch((x) => x)
    return { kind: kind(e), hasMessage: typeof e.message === 'string' && e.message.length > 0 }
  }
}

/** What `f` gives, or how it threw at once. */
async function attempt (f) {
  try {
    return await f()
  } catch (e) {
    return `threw ${kind(e)}`
  }
}

async function outcome (connect, address) {
  try {
    const s = connect(address)
    const opened = await state(s.opened, 2000)
    await s.close().catch(() => {})
    return `opened ${opened}`
  } catch (e) {
    return `threw ${kind(e)}`
  }
}

// The recording peer's log, by HTTP from the test (both runtimes can fetch).
function fetchRecord (p) {
  return fetch(`http://127.0.0.1:${p.recordLog}/`)
}
