import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { NapiCli, parseTriple } from '@napi-rs/cli'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { parse } from 'yaml'

import { LstmError } from '../src/errors.js'
import { loadNative, nativeTarget, PREBUILT_TUPLES } from '../src/native/load.js'

const root = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string
  version: string
  napi: { binaryName: string; targets: string[] }
  optionalDependencies?: Record<string, string>
  scripts: Record<string, string>
}
const targets = pkg.napi.targets.map(parseTriple)

describe('package.json napi config', () => {
  test('builds the six targets under the binary name lstm-native', () => {
    expect(pkg.napi.binaryName).toBe('lstm-native')
    expect([...pkg.napi.targets].sort()).toEqual(
      [
        'aarch64-apple-darwin',
        'aarch64-unknown-linux-gnu',
        'x86_64-apple-darwin',
        'x86_64-pc-windows-msvc',
        'x86_64-unknown-linux-gnu',
        'x86_64-unknown-linux-musl',
      ].sort(),
    )
  })

  test('the published package gets one lstm-native-<platform> optionalDependency per target, at its version', async () => {
    // The repository leaves them out (unpublished packages would break `npm ci`); the release adds them.
    expect(pkg.optionalDependencies).toBeUndefined()
    const { optionalDependencies } = await import('../scripts/optional-deps.mjs')
    const expected = Object.fromEntries(targets.map((t) => [`lstm-native-${t.platformArchABI}`, pkg.version]))
    expect(optionalDependencies(pkg)).toEqual(expected)
    expect(readFileSync(join(root, '.github/workflows/release.yml'), 'utf8')).toContain('node scripts/optional-deps.mjs package.json')
  })

  test('the loader knows the same prebuilt platforms', () => {
    expect([...PREBUILT_TUPLES].sort()).toEqual(targets.map((t) => t.platformArchABI).sort())
  })

  test.each(targets.map((t) => [t.triple, t] as const))('the loader names %s the way napi-rs does', (_, t) => {
    const libc = t.abi === 'gnu' || t.abi === 'musl' ? t.abi : undefined
    const target = nativeTarget({ platform: t.platform as NodeJS.Platform, arch: t.arch, libc })
    expect(target.tuple).toBe(t.platformArchABI)
    expect(target.fileName).toBe(`lstm-native.${t.platformArchABI}.node`)
    expect(target.packageName).toBe(`lstm-native-${t.platformArchABI}`)
    expect(target.prebuilt).toBe(true)
  })
})

describe('npm/ platform packages', () => {
  test('npm/ holds exactly one folder per target', () => {
    const dirs = readdirSync(join(root, 'npm'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
    expect(dirs.sort()).toEqual(targets.map((t) => t.platformArchABI).sort())
  })

  test.each(targets.map((t) => [t.platformArchABI, t] as const))('npm/%s has the right name, os, cpu, libc and main', (dir, t) => {
    const manifest = JSON.parse(readFileSync(join(root, 'npm', dir, 'package.json'), 'utf8'))
    const file = `lstm-native.${dir}.node`
    expect(manifest).toMatchObject({ name: `lstm-native-${dir}`, version: pkg.version, os: [t.platform], cpu: [t.arch], main: file, files: [file] })
    expect(manifest.libc).toEqual(t.abi === 'gnu' ? ['glibc'] : t.abi === 'musl' ? ['musl'] : undefined)
  })

  test('match what `napi create-npm-dirs` generates from package.json, file for file', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'lstm-native-npm-dirs-'))
    try {
      cpSync(join(root, 'package.json'), join(tmp, 'package.json'))
      // napi-rs logs one "INFO … created" line per package through console.error: keep them out of the test output.
      const quiet = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        await new NapiCli().createNpmDirs({ cwd: tmp })
      } finally {
        quiet.mockRestore()
      }
      for (const t of targets) {
        for (const file of ['package.json', 'README.md']) {
          const committed = readFileSync(join(root, 'npm', t.platformArchABI, file), 'utf8')
          const generated = readFileSync(join(tmp, 'npm', t.platformArchABI, file), 'utf8')
          expect(committed, `npm/${t.platformArchABI}/${file}`).toBe(generated)
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })
})

describe('release workflow', () => {
  interface Step {
    run?: string
    uses?: string
    with?: Record<string, string>
  }
  interface Job {
    needs?: string | string[]
    strategy?: { matrix: Record<string, unknown> }
    steps: Step[]
    permissions?: Record<string, string>
  }
  const workflow = parse(readFileSync(join(root, '.github/workflows/release.yml'), 'utf8')) as {
    on: { push: { tags: string[] } }
    jobs: Record<string, Job>
  }
  const build = workflow.jobs.build
  const settings = (build.strategy!.matrix as { settings: { host: string; target: string; flags: string }[] }).settings

  test('runs on v* tags', () => {
    expect(workflow.on.push.tags).toEqual(['v*'])
  })

  test('the build matrix names exactly the napi targets', () => {
    expect(settings.map((s) => s.target).sort()).toEqual([...pkg.napi.targets].sort())
  })

  test('cross-builds linux the napi-rs way: musl with zig (-x), gnu with --use-napi-cross', () => {
    for (const s of settings) {
      const os = parseTriple(s.target).platform
      expect(s.host, s.target).toBe(os === 'linux' ? 'ubuntu-latest' : os === 'darwin' ? 'macos-latest' : 'windows-latest')
      if (s.target.endsWith('-musl')) expect(s.flags).toBe('-x')
      else if (s.target.endsWith('-linux-gnu')) expect(s.flags).toBe('--use-napi-cross')
      else expect(s.flags).toBe('')
    }
  })

  test('builds with the package build flags and uploads bindings-<target>', () => {
    const buildStep = build.steps.find((s) => s.run?.includes('napi build'))!
    for (const flag of ['--platform', '--release', '--target ${{ matrix.settings.target }}', '--manifest-path crates/lstm-node/Cargo.toml', '--output-dir .', '--no-js', '--dts src/native/binding.d.ts']) {
      expect(buildStep.run).toContain(flag)
    }
    const upload = build.steps.find((s) => s.uses?.startsWith('actions/upload-artifact') && s.with?.name?.startsWith('bindings-'))!
    expect(upload.with).toMatchObject({ name: 'bindings-${{ matrix.settings.target }}', path: 'lstm-native.*.node' })
  })

  test('tests every target on a machine that runs it', () => {
    const hosted = (workflow.jobs.test.strategy!.matrix as { settings: { target: string }[] }).settings.map((s) => s.target)
    const musl = (workflow.jobs['test-musl'].strategy!.matrix as { target: string[] }).target
    expect([...hosted, ...musl].sort()).toEqual([...pkg.napi.targets].sort())
    for (const job of [workflow.jobs.test, workflow.jobs['test-musl']]) {
      expect(job.steps.some((s) => s.run?.includes('npm run build:ts && npx vitest run'))).toBe(true)
    }
  })

  test('runs the Rust tests on aarch64 and at every SIMD level on x86-64', () => {
    const job = workflow.jobs['test-rust'] as Job & { 'runs-on': string }
    const hosts = (job.strategy!.matrix as { settings: { host: string; target: string }[] }).settings
    expect(hosts).toEqual(
      expect.arrayContaining([
        { host: 'ubuntu-latest', target: 'x86_64-unknown-linux-gnu' },
        { host: 'ubuntu-24.04-arm', target: 'aarch64-unknown-linux-gnu' },
      ]),
    )
    expect(job['runs-on']).toBe('${{ matrix.settings.host }}')
    expect(job.steps.some((s) => s.run === 'bash scripts/test-simd-levels.sh')).toBe(true)
    expect(readFileSync(join(root, 'scripts/test-simd-levels.sh'), 'utf8')).toContain('cargo test --workspace --profile test-opt')
  })

  test('publishes after every test, with provenance, once the artifacts are in npm/', () => {
    const publish = workflow.jobs.publish
    expect(publish.needs).toEqual(expect.arrayContaining(['build', 'test', 'test-rust', 'test-musl']))
    expect(publish.permissions).toMatchObject({ 'id-token': 'write' })
    const runs = publish.steps.map((s) => s.run ?? s.uses ?? '')
    const at = (text: string) => runs.findIndex((r) => r.includes(text))
    expect(at('napi create-npm-dirs')).toBeGreaterThan(-1)
    expect(at('npm run artifacts')).toBeGreaterThan(at('napi create-npm-dirs'))
    expect(at('npm publish')).toBeGreaterThan(at('npm run artifacts'))
    expect(runs[at('npm publish')]).toContain('--provenance')
    expect(pkg.scripts.artifacts).toBe('napi artifacts')
  })
})

describe('loadNative', () => {
  let tmp: string
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'lstm-native-load-'))
  })
  afterEach(() => {
    vi.unstubAllEnvs()
    rmSync(tmp, { recursive: true, force: true })
  })

  const catchError = (fn: () => unknown): LstmError => {
    try {
      fn()
    } catch (err) {
      expect(err).toBeInstanceOf(LstmError)
      return err as LstmError
    }
    throw new Error('expected loadNative to throw')
  }

  test('throws one clear error naming the platform, every attempt and how to build', () => {
    const missing = join(tmp, 'nowhere', 'lstm-native.node')
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', missing)
    const err = catchError(() => loadNative({ packageRoot: tmp, platform: 'linux', arch: 'x64', libc: 'musl' }))
    expect(err.code).toBe('NATIVE_BINDING_NOT_FOUND')
    expect(err.message).toContain('linux-x64-musl (platform linux, arch x64, libc musl)')
    expect(err.message).toContain(`1. NAPI_RS_NATIVE_LIBRARY_PATH=${missing}: no such file`)
    expect(err.message).toContain(`2. ${join(tmp, 'lstm-native.linux-x64-musl.node')}: no such file`)
    expect(err.message).toContain('3. package lstm-native-linux-x64-musl: not installed')
    expect(err.message).toContain('install Rust')
    expect(err.message).toContain('npm run build')
    expect(err.cause).toBeInstanceOf(AggregateError)
    expect((err.cause as AggregateError).errors).toHaveLength(3)
  })

  test('an installed copy packed by `npm pack` (no optionalDependencies) says to use npm run pack:local', () => {
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', '')
    writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'lstm-native', version: '0.1.0' }))
    const packed = catchError(() => loadNative({ packageRoot: tmp, platform: 'linux', arch: 'x64', libc: 'gnu' }))
    expect(packed.message).toContain('packed from a source checkout without its binary')
    expect(packed.message).toContain('npm run pack:local')
    expect(packed.message).not.toContain('--omit=optional')
    // A published copy lists its platform packages: there the binary was skipped at install time.
    writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'lstm-native', version: '0.1.0', optionalDependencies: { 'lstm-native-linux-x64-gnu': '0.1.0' } }))
    const published = catchError(() => loadNative({ packageRoot: tmp, platform: 'linux', arch: 'x64', libc: 'gnu' }))
    expect(published.message).toContain('reinstall lstm-native without --omit=optional')
    expect(published.message).not.toContain('pack:local')
  })

  test('in a source checkout, says to run npm run build there', () => {
    writeFileSync(join(tmp, 'Cargo.toml'), '[workspace]\n')
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', '')
    const err = catchError(() => loadNative({ packageRoot: tmp, platform: 'darwin', arch: 'arm64' }))
    expect(err.message).toContain('darwin-arm64 (platform darwin, arch arm64)')
    expect(err.message).toContain(`run \`npm run build\` in ${tmp}`)
    expect(err.message).not.toContain('NAPI_RS_NATIVE_LIBRARY_PATH=')
  })

  test('on a platform without a prebuilt package, says so; finds its own package root', () => {
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', '')
    const err = catchError(() => loadNative({ platform: 'freebsd', arch: 'x64' }))
    expect(err.message).toContain(`1. ${join(root, 'lstm-native.freebsd-x64.node')}: no such file`)
    expect(err.message).toContain('2. package lstm-native-freebsd-x64: not published')
  })

  test('a local file that exists but is no addon reports the load error', () => {
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', '')
    writeFileSync(join(tmp, 'lstm-native.win32-x64-msvc.node'), 'not a shared library')
    const err = catchError(() => loadNative({ packageRoot: tmp, platform: 'win32', arch: 'x64' }))
    expect(err.message).toMatch(/1\. .*lstm-native\.win32-x64-msvc\.node: (?!no such file)/)
  })

  test('tries NAPI_RS_NATIVE_LIBRARY_PATH first, then the prebuilt package next to the package root', () => {
    const pkgDir = join(tmp, 'node_modules', 'lstm-native-linux-arm64-gnu')
    mkdirSync(pkgDir, { recursive: true })
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'lstm-native-linux-arm64-gnu', main: 'index.js' }))
    writeFileSync(join(pkgDir, 'index.js'), "module.exports = { from: 'package' }\n")
    writeFileSync(join(tmp, 'override.js'), "module.exports = { from: 'override' }\n")
    const options = { packageRoot: tmp, platform: 'linux', arch: 'arm64', libc: 'gnu' } as const

    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', join(tmp, 'override.js'))
    expect(loadNative(options)).toEqual({ from: 'override' })
    vi.stubEnv('NAPI_RS_NATIVE_LIBRARY_PATH', '')
    expect(loadNative(options)).toEqual({ from: 'package' })
  })
})
