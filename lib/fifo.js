'use strict'

/**
 * A queue with O(1) shift: a writer may queue hundreds of thousands of
 * small chunks without awaiting them (as drivers streaming COPY data do).
 */
class Fifo {
  #items = []
  #head = 0

  get length () { return this.#items.length - this.#head }

  push (item) { this.#items.push(item) }

  shift () {
    if (this.#head >= this.#items.length) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head++] = undefined
    // Drop the consumed front now and then, so the array does not grow forever.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }

  /** The queued items, oldest first (a copy). */
  items () { return this.#items.slice(this.#head) }

  clear () {
    this.#items = []
    this.#head = 0
  }
}

module.exports = { Fifo }
