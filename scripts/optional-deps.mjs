#!/usr/bin/env node
// Prepares package.json for publishing: drops the from-source `prepare` script and writes optionalDependencies: one lstm-native-<platform> package per `napi.targets` entry, at the
// package's version. The release workflow runs it just before publishing. The repository's package.json leaves
// them out because the platform packages are not on the registry until that workflow publishes them, and `npm ci`
// refuses a lock file that cannot name them.
//   node scripts/optional-deps.mjs [path/to/package.json]
import { readFileSync, writeFileSync } from 'node:fs'
import { parseTriple } from '@napi-rs/cli'

export function optionalDependencies(pkg) {
  return Object.fromEntries(pkg.napi.targets.map((t) => [`${pkg.napi.binaryName}-${parseTriple(t).platformArchABI}`, pkg.version]))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? 'package.json'
  const pkg = JSON.parse(readFileSync(file, 'utf8'))
  pkg.optionalDependencies = optionalDependencies(pkg)
  // `prepare` builds from source in a checkout; an installed package never needs it (npm would only warn about it).
  if (pkg.scripts) delete pkg.scripts.prepare
  writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`)
  console.log(`optionalDependencies: ${Object.keys(pkg.optionalDependencies).join(', ')}`)
}
