#!/usr/bin/env node
// Packs a checkout for use from another project: the main package (as `npm pack` makes it) and, beside it, this
// machine's platform package with the local build's binary, the way the release publishes them. Installing both
// tarballs together gives a working lstm-native without a registry; `npm pack` alone gives one without its binary.
//   npm run pack:local [-- --out DIR]      (default DIR: ./packed; needs `npm run build` first)
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { out: { type: 'string', default: join(root, 'packed') } } })
const out = resolve(values.out)

function fail(message) {
  console.error(`pack:local: ${message}`)
  process.exit(1)
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
// `npm run build` writes lstm-native.<tuple>.node into the root: one per platform it was built for.
const binaries = readdirSync(root).filter((f) => f.startsWith(`${pkg.napi.binaryName}.`) && f.endsWith('.node'))
if (binaries.length === 0) fail(`no ${pkg.napi.binaryName}.<platform>.node in ${root}: run \`npm run build\` first`)
if (!existsSync(join(root, 'dist', 'index.js'))) fail(`no dist/index.js in ${root}: run \`npm run build\` first`)

/** `npm pack` of `dir` into `out`; returns the tarball's path. `--ignore-scripts`: the build is done already. */
function npmPack(dir) {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' }))
  return join(out, info.filename)
}

mkdirSync(out, { recursive: true })
const tarballs = [npmPack(root)]
for (const binary of binaries) {
  const tuple = binary.slice(pkg.napi.binaryName.length + 1, -'.node'.length)
  const platformDir = join(root, 'npm', tuple)
  if (!existsSync(join(platformDir, 'package.json'))) fail(`${binary} has no platform package folder npm/${tuple}`)
  const platformPkg = JSON.parse(readFileSync(join(platformDir, 'package.json'), 'utf8'))
  if (platformPkg.main !== binary) fail(`npm/${tuple}/package.json's main is ${platformPkg.main}, not ${binary}`)
  if (platformPkg.version !== pkg.version) fail(`npm/${tuple}/package.json is version ${platformPkg.version}, not ${pkg.version}`)
  const stage = mkdtempSync(join(tmpdir(), 'lstm-native-pack-local-'))
  try {
    for (const f of ['package.json', 'README.md']) if (existsSync(join(platformDir, f))) copyFileSync(join(platformDir, f), join(stage, f))
    copyFileSync(join(root, binary), join(stage, binary))
    tarballs.push(npmPack(stage))
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

const shown = tarballs.map((t) => relative(process.cwd(), t) || t)
console.log(`packed:\n${shown.map((t) => `  ${t}`).join('\n')}`)
console.log(`install both in the other project:\n  npm install ${tarballs.join(' ')}`)
