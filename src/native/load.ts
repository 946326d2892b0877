import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'

import { LstmError } from '../errors.js'

/** The addon's exports, as `napi build --dts src/native/binding.d.ts` declares them. */
export type NativeBinding = typeof import('./binding.js')

/** The C library a Linux binary is linked against. */
export type Libc = 'gnu' | 'musl'

/** Overrides for {@link loadNative}; every field defaults to the running process. */
export interface LoadNativeOptions {
  /** Folder of lstm-native's package.json. Default: found by walking up from this file. */
  packageRoot?: string
  /** Default: `process.platform`. */
  platform?: NodeJS.Platform
  /** Default: `process.arch`. */
  arch?: string
  /** Linux only. Default: detected (musl on Alpine, gnu elsewhere). */
  libc?: Libc
}

/** Where a binary for this machine comes from, as `napi build --platform` and `napi create-npm-dirs` name it. */
export interface NativeTarget {
  platform: NodeJS.Platform
  arch: string
  /** Set on Linux only. */
  libc?: Libc
  /** napi-rs's platform-arch-abi name: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`. */
  tuple: string
  /** The local build's file name: `lstm-native.<tuple>.node`. */
  fileName: string
  /** The prebuilt package: `lstm-native-<tuple>`. */
  packageName: string
  /** Whether that prebuilt package is published (one of package.json's `napi.targets`). */
  prebuilt: boolean
}

const PACKAGE_NAME = 'lstm-native'
const BINARY_NAME = 'lstm-native'
/** Keep in step with package.json `napi.targets` (test/packaging.test.ts checks it). */
export const PREBUILT_TUPLES: readonly string[] = [
  'linux-x64-gnu',
  'linux-x64-musl',
  'linux-arm64-gnu',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64-msvc',
]

let detectedLibc: Libc | undefined

/** glibc or musl, checked the way napi-rs's generated loader does: `ldd`, the musl loader, then the process report. */
function detectLibc(): Libc {
  if (detectedLibc) return detectedLibc
  detectedLibc = libcFromLdd() ?? libcFromMuslLoader() ?? libcFromReport() ?? 'gnu'
  return detectedLibc
}

function libcFromLdd(): Libc | undefined {
  try {
    return readFileSync('/usr/bin/ldd', 'utf8').includes('musl') ? 'musl' : 'gnu'
  } catch {
    return undefined
  }
}

function libcFromMuslLoader(): Libc | undefined {
  try {
    return readdirSync('/lib').some((f) => f.startsWith('ld-musl-')) ? 'musl' : undefined
  } catch {
    return undefined
  }
}

function libcFromReport(): Libc | undefined {
  const report = process.report?.getReport() as
    | { header?: { glibcVersionRuntime?: string }; sharedObjects?: string[] }
    | undefined
  if (!report) return undefined
  if (report.header?.glibcVersionRuntime) return 'gnu'
  if (report.sharedObjects?.some((f) => f.includes('libc.musl-') || f.includes('ld-musl-'))) return 'musl'
  return undefined
}

/** The binary this machine (or the overridden platform/arch/libc) needs. */
export function nativeTarget(options: LoadNativeOptions = {}): NativeTarget {
  const platform = options.platform ?? process.platform
  const arch = options.arch ?? process.arch
  const libc = platform === 'linux' ? (options.libc ?? detectLibc()) : undefined
  const tuple =
    platform === 'linux' ? `linux-${arch}-${libc}` : platform === 'win32' ? `win32-${arch}-msvc` : `${platform}-${arch}`
  return {
    platform,
    arch,
    libc,
    tuple,
    fileName: `${BINARY_NAME}.${tuple}.node`,
    packageName: `${PACKAGE_NAME}-${tuple}`,
    prebuilt: PREBUILT_TUPLES.includes(tuple),
  }
}

/** The nearest folder at or above `start` whose package.json is lstm-native's. */
function findPackageRoot(start: string): string | undefined {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir
      } catch {
        // an unreadable package.json belongs to somebody else: keep walking up
      }
    }
    if (dirname(dir) === dir) return undefined
  }
}

/** Whether the package.json in `packageRoot` lists optionalDependencies (as a published lstm-native does). */
function listsOptionalDependencies(packageRoot: string): boolean {
  try {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { optionalDependencies?: unknown }
    return typeof pkg.optionalDependencies === 'object' && pkg.optionalDependencies !== null && Object.keys(pkg.optionalDependencies).length > 0
  } catch {
    return false
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0]
}

/** Require a file by path, failing with an ENOENT error (shown as "no such file") when it is absent. */
function requireFile(req: NodeJS.Require, path: string): unknown {
  if (!existsSync(path)) throw Object.assign(new Error(`no such file: ${path}`), { code: 'ENOENT' })
  return req(path)
}

function explainFile(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : firstLine(err)
}

/**
 * Load the Rust addon. Tries, in order: the file named by `NAPI_RS_NATIVE_LIBRARY_PATH`,
 * a local build `<packageRoot>/lstm-native.<tuple>.node` (what `npm run build` writes),
 * then the prebuilt optional dependency `lstm-native-<tuple>`.
 * Throws one `LstmError` with code `NATIVE_BINDING_NOT_FOUND` naming the platform, every
 * attempt and how to build from source; the attempts' errors are its `cause` (an AggregateError).
 */
export function loadNative<T = NativeBinding>(options: LoadNativeOptions = {}): T {
  const target = nativeTarget(options)
  const packageRoot = options.packageRoot ?? findPackageRoot(__dirname)
  // Resolve the prebuilt package from lstm-native's own folder, where npm installs it as a sibling.
  const req = createRequire(packageRoot ? join(packageRoot, 'package.json') : __filename)

  const tried: string[] = []
  const errors: unknown[] = []
  const attempt = (label: string, load: () => unknown, explain: (err: unknown) => string = firstLine) => {
    try {
      return { binding: load() as T }
    } catch (err) {
      errors.push(err)
      tried.push(`${label}: ${explain(err)}`)
      return undefined
    }
  }

  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  if (override) {
    const path = resolve(override)
    const loaded = attempt(`NAPI_RS_NATIVE_LIBRARY_PATH=${override}`, () => requireFile(req, path), explainFile)
    if (loaded) return loaded.binding
  }

  if (packageRoot) {
    const path = join(packageRoot, target.fileName)
    const loaded = attempt(path, () => requireFile(req, path), explainFile)
    if (loaded) return loaded.binding
  } else {
    tried.push(`a local ${target.fileName}: no package.json named ${PACKAGE_NAME} above ${__dirname}`)
  }

  if (target.prebuilt) {
    const loaded = attempt(`package ${target.packageName}`, () => req(target.packageName), (err) =>
      (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && firstLine(err).includes(`'${target.packageName}'`)
        ? 'not installed'
        : firstLine(err),
    )
    if (loaded) return loaded.binding
  } else {
    tried.push(`package ${target.packageName}: not published (prebuilt binaries: ${PREBUILT_TUPLES.join(', ')})`)
  }

  const libc = target.libc ? `, libc ${target.libc === 'gnu' ? 'glibc' : 'musl'}` : ''
  const isCheckout = packageRoot !== undefined && existsSync(join(packageRoot, 'Cargo.toml'))
  const lines = [
    `lstm-native could not load its native addon for ${target.tuple} (platform ${target.platform}, arch ${target.arch}${libc}).`,
    'Tried:',
    ...tried.map((t, i) => `  ${i + 1}. ${t}`),
  ]
  if (target.prebuilt && !isCheckout && packageRoot !== undefined && !listsOptionalDependencies(packageRoot)) {
    // The published package.json lists the platform packages (scripts/optional-deps.mjs); one without them was
    // packed from a checkout by `npm pack`, which leaves the binary behind, so reinstalling cannot help.
    lines.push(
      `This lstm-native was packed from a source checkout without its binary (its package.json lists no optionalDependencies). ` +
        `In that checkout run \`npm run build && npm run pack:local\` and install both tarballs it writes, ` +
        `or install the checkout folder itself (\`npm install path/to/checkout\`).`,
    )
  } else if (target.prebuilt) {
    lines.push(
      `The prebuilt binary comes in the optional dependency ${target.packageName}: reinstall lstm-native without --omit=optional / --no-optional.`,
    )
  }
  lines.push(
    isCheckout
      ? `To build it from source: install Rust (https://rustup.rs), then run \`npm run build\` in ${packageRoot}.`
      : 'To build it from source: install Rust (https://rustup.rs), then run `npm install && npm run build` in a checkout of the lstm-native source ' +
          `(the folder with Cargo.toml) and set NAPI_RS_NATIVE_LIBRARY_PATH to the ${target.fileName} it writes.`,
  )
  throw new LstmError('NATIVE_BINDING_NOT_FOUND', lines.join('\n'), {
    cause: new AggregateError(errors, `${errors.length} attempt(s) to load the native addon failed`),
  })
}
