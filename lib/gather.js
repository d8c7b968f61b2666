'use strict'

// The small chunks a socket is given in one turn, gathered to go out as one
// send (one TLS record) at the turn's end: a driver that writes a message in
// several pieces (pg through pg-cloudflare writes a query as five) costs one
// system call and wakes its server once, as node:net's cork() gives.
//
// Each chunk is copied when written (what goes out is what the buffer held
// at write()) into an arena shared by every socket and only ever appended
// to: no allocation per chunk, and the pieces of one socket's turn usually
// lie side by side there, so they go out as one view, with no second copy.
// A full arena is replaced, and freed once no view refers to it.

const SMALL_CHUNK = 1024
const GATHER_LIMIT = 16 * 1024
const ARENA_SIZE = GATHER_LIMIT

let arena = null
let arenaAt = 0

class Gathering {
  // While the pieces lie side by side: the arena and their extent in it.
  #arena = null
  #from = 0
  #to = 0
  // When another socket's bytes (or a new arena) came between: the pieces.
  #parts = null
  #size = 0

  get empty () { return this.#size === 0 }

  /** Whether `bytes` (not empty) is gathered rather than sent at once. */
  static takes (bytes) { return bytes.byteLength <= SMALL_CHUNK }

  /** Whether `bytes` still fits in this turn's gathering. */
  fits (bytes) { return bytes.byteLength <= GATHER_LIMIT - this.#size }

  /** Copies `bytes` (at most SMALL_CHUNK, not empty) in. */
  add (bytes) {
    const n = bytes.byteLength
    if (arena === null || n > ARENA_SIZE - arenaAt) {
      arena = new Uint8Array(ARENA_SIZE)
      arenaAt = 0
    }
    const at = arenaAt
    arena.set(bytes, at)
    arenaAt = at + n
    this.#size += n
    if (this.#parts !== null) {
      this.#parts.push(arena.subarray(at, at + n))
    } else if (this.#arena === null) {
      this.#arena = arena
      this.#from = at
      this.#to = at + n
    } else if (this.#arena === arena && this.#to === at) {
      this.#to = at + n
    } else {
      this.#parts = [this.#arena.subarray(this.#from, this.#to), arena.subarray(at, at + n)]
      this.#arena = null
    }
  }

  /**
   * Everything gathered, in order, as one view (of the arena, or of a
   * merged copy when the pieces are apart), and empty again; null when
   * nothing was gathered. The view is to be sent now: the arena is never
   * written over, but what a send leaves behind is copied out by the caller
   * rather than kept in it.
   */
  take () {
    if (this.#size === 0) return null
    const size = this.#size
    const parts = this.#parts
    let bytes
    if (parts === null) {
      bytes = this.#arena.subarray(this.#from, this.#to)
    } else {
      bytes = new Uint8Array(size)
      let at = 0
      for (const p of parts) {
        bytes.set(p, at)
        at += p.byteLength
      }
    }
    this.clear()
    return bytes
  }

  clear () {
    this.#arena = null
    this.#parts = null
    this.#size = 0
  }
}

module.exports = { Gathering }
