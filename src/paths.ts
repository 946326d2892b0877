import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { LstmError } from './errors.js'

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
