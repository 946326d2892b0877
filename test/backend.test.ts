/**
 * `backend()`: the SIMD level the native kernels run at and the default thread count. `LSTM_NATIVE_SIMD` caps the
 * level; it is read once per process, so each setting runs in a child process that loads the built package
 * (dist/index.js): a level this CPU has is the one reported and a model trains at it, and an unknown level or one
 * the CPU lacks is an INVALID_CONFIG error from `backend()` and from building a model, naming the variable and value.
 */
import { execFileSync } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { beforeAll, describe, expect, test } from 'vitest'
import { backend, type SimdLevel } from '../src/index.js'
import { DIST_CJS, ensureDist } from './fixtures/dist.js'

const LEVELS: readonly SimdLevel[] = ['scalar', 'avx2', 'avx512']

beforeAll(async () => {
  const state = await ensureDist()
  if (state === 'rebuilt') console.warn('[backend] dist/ was missing or older than src/: rebuilt it with npm run build:ts')
}, 150_000)

/** Runs a script against dist/ with LSTM_NATIVE_SIMD set to `level`; returns what it prints as JSON. */
function child(level: string): { simd?: string; threads?: number; loss?: number; backendError?: [string, string]; modelError?: [string, string] } {
  const script = `
    const lib = require(${JSON.stringify(DIST_CJS)})
    const out = {}
    const caught = (f) => { try { f(); return undefined } catch (e) { return [e instanceof lib.LstmError ? e.code : 'not an LstmError', e.message] } }
    out.backendError = caught(() => Object.assign(out, lib.backend()))
    let model
    out.modelError = caught(() => { model = new lib.Sequential([lib.layers.embedding({ inputDim: 9, outputDim: 3 }), lib.layers.lstm({ units: 4 }), lib.layers.dense({ units: 2, activation: 'softmax' })], { numThreads: 2 }) })
    ;(async () => {
      if (model) {
        model.compile({ loss: 'sparseCategoricalCrossentropy', optimizer: 'adam' })
        const x = lib.tensor(Int32Array.from({ length: 24 }, (_, i) => i % 9), [6, 4])
        const y = lib.tensor(Int32Array.from({ length: 6 }, (_, i) => i % 2), [6])
        const h = await model.fit(x, y, { epochs: 1, batchSize: 3, verbose: 0 })
        out.loss = h.history.loss[0]
      }
      console.log(JSON.stringify(out))
    })().catch((e) => { console.error(e); process.exit(1) })
  `
  const stdout = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, LSTM_NATIVE_SIMD: level }, encoding: 'utf8', timeout: 60_000 })
  return JSON.parse(stdout.trim().split('\n').pop()!)
}

describe('backend()', () => {
  test('names the SIMD level and the default threads', () => {
    const b = backend()
    expect(LEVELS).toContain(b.simd)
    expect(b.threads).toBe(availableParallelism())
    // Only x86-64 has the SIMD paths; ARM runs the portable one.
    if (process.arch !== 'x64') expect(b.simd).toBe('scalar')
    const env = process.env.LSTM_NATIVE_SIMD
    if (env) expect(b.simd).toBe(env.trim().toLowerCase())
  })

  test('LSTM_NATIVE_SIMD caps the level: every level up to the best one runs a model', () => {
    const best = child('').simd as SimdLevel
    expect(LEVELS).toContain(best)
    for (const level of LEVELS.slice(0, LEVELS.indexOf(best) + 1)) {
      const out = child(level)
      expect(out.backendError).toBeUndefined()
      expect(out.modelError).toBeUndefined()
      expect(out.simd).toBe(level)
      expect(out.threads).toBe(availableParallelism())
      expect(Number.isFinite(out.loss)).toBe(true)
    }
  }, 120_000)

  test('an unknown level, or one this CPU lacks, is INVALID_CONFIG from backend() and from building a model', () => {
    const best = child('').simd as SimdLevel
    for (const level of ['avx3', 'neon', ...LEVELS.slice(LEVELS.indexOf(best) + 1)]) {
      const out = child(level)
      expect(out.simd).toBeUndefined()
      for (const [code, message] of [out.backendError!, out.modelError!]) {
        expect(code).toBe('INVALID_CONFIG')
        expect(message).toContain(`LSTM_NATIVE_SIMD="${level}"`)
      }
    }
  }, 60_000)
})
