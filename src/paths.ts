import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, extname, join, resolve } from 'node:path'
import { LstmError } from './errors.js'
import { describe } from './validate.js'

const PACKAGE_NAME = 'lstm-native'

let cachedPackageRoot: string | undefined

function isOurPackageJson(file: string): boolean {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).name === PACKAGE_NAME
  } catch {
    return false
  }
}

function findPackageRootFrom(start: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (isOurPackageJson(join(dir, 'package.json'))) return dir
    if (dirname(dir) === dir) return undefined
  }
}

/**
 * The folder holding lstm-native's package.json. The code runs from src/ (tests, tsx) or from dist/ (bundled by
 * tsup, which shims `__dirname` in the ESM build), so walk up from this module instead of assuming a fixed depth.
 */
export function packageRoot(): string {
  if (cachedPackageRoot) return cachedPackageRoot
  const here = typeof __dirname === 'string' ? __dirname : undefined
  const root = (here && findPackageRootFrom(here)) ?? findPackageRootFrom(process.cwd())
  if (!root) {
    throw new LstmError(
      'IO',
      `cannot find the ${PACKAGE_NAME} package folder (a package.json named "${PACKAGE_NAME}") above ${here ?? process.cwd()}`,
    )
  }
  cachedPackageRoot = root
  return root
}

/**
 * Absolute path of a data file shipped in the package's `data/` folder, e.g. `bundledDataPath('imdb-sample.tar.gz')`.
 * Throws LstmError('IO') when the file is not there (a package installed without its data).
 */
export function bundledDataPath(name: string): string {
  if (!name || /[\\/]/.test(name) || name === '.' || name === '..') {
    throw new LstmError('INVALID_ARGUMENT', `bundledDataPath() takes a plain file name, got ${JSON.stringify(name)}`)
  }
  const file = join(packageRoot(), 'data', name)
  if (!existsSync(file)) {
    throw new LstmError('IO', `bundled data file ${file} is missing: the ${PACKAGE_NAME} package was installed without its data/ folder`)
  }
  return file
}

/** Where downloads and tokenized caches go: `$LSTM_NATIVE_CACHE`, else `~/.cache/lstm-native`. */
export function defaultCacheDir(): string {
  const fromEnv = process.env.LSTM_NATIVE_CACHE
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.cache', PACKAGE_NAME)
}

/**
 * Checks, before any work starts, that a file can be written at `path`: its folder exists and is writable, and the
 * path is not a folder. `extension` (e.g. '.svg') is the only file type the writer makes. A training run checks
 * its output paths with this so that a typo fails at once rather than after the whole run.
 * @throws LstmError('IO') for a missing or read-only folder or a path that is a folder; LstmError('INVALID_ARGUMENT')
 *   for another extension.
 */
export function checkOutputPath(path: string, what: string, extension?: string): void {
  if (typeof path !== 'string' || path === '') throw new LstmError('INVALID_ARGUMENT', `${what}: expected a file path, got ${describe(path)}`)
  if (extension && extname(path).toLowerCase() !== extension) {
    const given = extname(path) ? `the extension ${extname(path)}` : 'no extension'
    throw new LstmError('INVALID_ARGUMENT', `${what}: ${path} has ${given}, but only ${extension.slice(1).toUpperCase()} is written: name the file *${extension}`)
  }
  const absolute = resolve(path)
  const folder = dirname(absolute)
  let stats
  try {
    stats = statSync(folder)
  } catch {
    throw new LstmError('IO', `${what}: cannot write ${path}: the folder ${folder} does not exist`)
  }
  if (!stats.isDirectory()) throw new LstmError('IO', `${what}: cannot write ${path}: ${folder} is not a folder`)
  try {
    accessSync(folder, constants.W_OK)
  } catch {
    throw new LstmError('IO', `${what}: cannot write ${path}: the folder ${folder} is not writable`)
  }
  if (existsSync(absolute) && statSync(absolute).isDirectory()) throw new LstmError('IO', `${what}: cannot write ${path}: it is a folder`)
}
