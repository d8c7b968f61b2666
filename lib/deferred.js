'use strict'

// Promises settled from outside, marked handled so that a failure nobody
// observes never becomes an unhandledRejection.

function handled (promise) {
  promise.catch(() => {})
  return promise
}

function deferred () {
  let resolve, reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  handled(promise)
  return { promise, resolve, reject }
}

module.exports = { handled, deferred }
