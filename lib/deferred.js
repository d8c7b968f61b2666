'use strict'

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
