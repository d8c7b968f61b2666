'use strict'

// What building the addon from source needs, checked before a build starts,
// so that a missing tool is named instead of failing deep inside cargo.

const { spawnSync } = require('node:child_process')

const runs = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'ignore' })
  return !r.error && r.status === 0
}

/** The missing prerequisites, as lines for the user (empty: all present). */
function missingPrerequisites () {
  const missing = []
  if (!runs('cargo', ['--version'])) {
    missing.push('Rust (cargo and rustc, a stable toolchain: https://rustup.rs)')
  }
  if (process.platform === 'linux' && !runs('pkg-config', ['--exists', 'openssl'])) {
    missing.push('the OpenSSL development headers and pkg-config (Debian/Ubuntu: apt-get install libssl-dev pkg-config; Fedora: dnf install openssl-devel pkgconf)')
  }
  return missing
}

function explain (missing) {
  return 'sockets-api: building the native addon from source needs:\n' +
    missing.map((m) => `  - ${m}\n`).join('') +
    'Installed from npm on a supported platform, the package has a prebuilt binary and needs neither.'
}

module.exports = { missingPrerequisites, explain }

if (require.main === module) {
  const missing = missingPrerequisites()
  if (missing.length > 0) {
    console.error(explain(missing))
    process.exit(1)
  }
}
