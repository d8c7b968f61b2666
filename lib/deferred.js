'use strict'

// Promises settled from outside, which never become an unhandledRejection
// when nobody observes them.

const noop = () => {}

// An already resolved promise: `RESOLVED.then(fn)` runs fn after the current
// job, as queueMicrotask() does, without the async resource it makes per call.
const RESOLVED = Promise.resolve()

function handled (promise) {
  promise.catch(noop)
  return promise
}

/**
 * A promise with its resolve and reject. It is marked handled only when it
 * is rejected: a promise that stays pending (most of a socket's life) keeps
 * no reaction, and one that resolves never needed one. Settling it again
 * does nothing, as with a promise's own resolvers.
 */
class Deferred {
  #resolve
  #reject
  #settled = false
  constructor () {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
  }

  get settled () { return this.#settled }

  // Once settled, the resolvers (two closures) are let go: an open socket
  // keeps its `opened` for as long as it lives.
  resolve (value) {
    if (this.#settled) return
    this.#settled = true
    const resolve = this.#resolve
    this.#resolve = this.#reject = null
    resolve(value)
  }

  reject (error) {
    if (this.#settled) return
    this.#settled = true
    this.promise.catch(noop)
    const reject = this.#reject
    this.#resolve = this.#reject = null
    reject(error)
  }
}

function deferred () {
  return new Deferred()
}

module.exports = { handled, deferred, RESOLVED }
