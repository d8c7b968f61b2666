'use strict'

// Test certificates, generated when the tests run (nothing in the repository
// can expire). Keys come from node:crypto; node-forge builds the certificates.

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const forge = require('node-forge')

const DAY = 24 * 60 * 60 * 1000

function keyPair () {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' })
  const forgeKey = forge.pki.privateKeyFromPem(pem)
  return {
    pem,
    forgeKey,
    forgePublic: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e)
  }
}

let serial = 1

/**
 * Issues a certificate.
 * @param {object} o
 * @param {string} o.cn common name
 * @param {{dns?: string[], ip?: string[]}} [o.san]
 * @param {{cert: any, key: any}} [o.issuer] signer (self-signed when absent)
 * @param {boolean} [o.ca]
 * @param {number} [o.from] ms offset of notBefore from now
 * @param {number} [o.to] ms offset of notAfter from now
 * @param {'server'|'client'} [o.usage]
 */
function issue ({ cn, san, issuer, ca = false, from = -DAY, to = 365 * DAY, usage = 'server' }) {
  const keys = keyPair()
  const cert = forge.pki.createCertificate()
  cert.publicKey = keys.forgePublic
  cert.serialNumber = (serial++).toString(16).padStart(4, '0') + crypto.randomBytes(6).toString('hex')
  cert.validity.notBefore = new Date(Date.now() + from)
  cert.validity.notAfter = new Date(Date.now() + to)
  const subject = [{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'sockets-api tests' }]
  cert.setSubject(subject)
  cert.setIssuer(issuer ? issuer.cert.subject.attributes : subject)
  const extensions = [{ name: 'basicConstraints', cA: ca, critical: true }]
  if (ca) {
    extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true })
  } else {
    extensions.push({ name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true })
    extensions.push({ name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' })
  }
  if (san) {
    const altNames = []
    for (const d of san.dns || []) altNames.push({ type: 2, value: d })
    for (const ip of san.ip || []) altNames.push({ type: 7, ip })
    extensions.push({ name: 'subjectAltName', altNames })
  }
  extensions.push({ name: 'subjectKeyIdentifier' })
  cert.setExtensions(extensions)
  cert.sign(issuer ? issuer.key : keys.forgeKey, forge.md.sha256.create())
  return { cert, key: keys.forgeKey, certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem }
}

const LOCAL = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] }

let cached
/** Every certificate the TLS tests use. */
function certs () {
  if (cached) return cached
  const ca = issue({ cn: 'sockets-api test CA', ca: true })
  const otherCa = issue({ cn: 'untrusted CA', ca: true })
  const server = issue({ cn: 'localhost', san: LOCAL, issuer: ca })
  const expired = issue({ cn: 'localhost', san: LOCAL, issuer: ca, from: -730 * DAY, to: -365 * DAY })
  const wrongName = issue({ cn: 'wrong.example', san: { dns: ['wrong.example'] }, issuer: ca })
  const selfSigned = issue({ cn: 'localhost', san: LOCAL })
  const untrustedLeaf = issue({ cn: 'localhost', san: LOCAL, issuer: otherCa })
  const client = issue({ cn: 'test client', issuer: ca, usage: 'client' })
  cached = {
    ca: ca.certPem,
    caKey: ca.keyPem,
    otherCa: otherCa.certPem,
    server: { cert: server.certPem, key: server.keyPem },
    expired: { cert: expired.certPem, key: expired.keyPem },
    wrongName: { cert: wrongName.certPem, key: wrongName.keyPem },
    selfSigned: { cert: selfSigned.certPem, key: selfSigned.keyPem },
    // The leaf alone: the client cannot build a chain to anything it trusts.
    unknownIssuer: { cert: untrustedLeaf.certPem, key: untrustedLeaf.keyPem },
    // Leaf plus its self-signed root, which the client does not trust.
    untrustedChain: { cert: untrustedLeaf.certPem + otherCa.certPem, key: untrustedLeaf.keyPem },
    client: { cert: client.certPem, key: client.keyPem }
  }
  return cached
}

/** Writes PEM text to a temporary file (for NODE_EXTRA_CA_CERTS and CLI tests). */
function tempFile (name, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockets-api-certs-'))
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

module.exports = { certs, issue, tempFile }
