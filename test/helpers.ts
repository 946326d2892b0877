/** Small shared fixtures for the Node API tests: seeded toy data, tiny models, scratch folders, error assertions. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { layers, LstmError, seededRandom, Sequential, type SequentialOptions, type Tensor, tensor } from '../src/index.js'

export const ROOT = join(__dirname, '..')

/** mulberry32: a tiny seeded generator in [0, 1) (the library's own). */
export const rng = seededRandom

/**
 * A learnable toy task: sequences of `T` token ids in [1, vocab), label 1 when the last token is in the upper half.
 * x int32 `[n, T]`, y float32 `[n, 1]`.
 */
export function toyTokens(n: number, T = 5, vocab = 10, seed = 1): { x: Tensor; y: Tensor } {
  const r = rng(seed)
  const x = new Int32Array(n * T)
  const y = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < T; t++) x[i * T + t] = 1 + Math.floor(r() * (vocab - 1))
    y[i] = x[i * T + T - 1] >= vocab / 2 ? 1 : 0
  }
  return { x: tensor(x, [n, T]), y: tensor(y, [n, 1]) }
}

/** Float sequences `[n, T, F]` with a float target `[n, 1]` (the mean of the last step). */
export function toyFloats(n: number, T = 4, F = 3, seed = 2): { x: Tensor; y: Tensor } {
  const r = rng(seed)
  const x = new Float32Array(n * T * F).map(() => r() * 2 - 1)
  const y = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let f = 0; f < F; f++) s += x[(i * T + T - 1) * F + f]
    y[i] = s / F
  }
  return { x: tensor(x, [n, T, F]), y: tensor(y, [n, 1]) }
}

/** embedding(vocab → 8) → LSTM 8 → dense 1 sigmoid, compiled for binary cross-entropy with accuracy. */
export function tokenModel(options: SequentialOptions & { vocab?: number; dropout?: number; compile?: boolean } = {}): Sequential {
  const { vocab = 10, dropout, compile = true, ...rest } = options
  const model = new Sequential(
    [
      layers.embedding({ inputDim: vocab, outputDim: 8 }),
      layers.lstm({ units: 8, ...(dropout !== undefined ? { dropout, recurrentDropout: dropout } : {}) }),
      ...(dropout !== undefined ? [layers.dropout({ rate: dropout })] : []),
      layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
    { seed: 7, numThreads: 1, ...rest },
  )
  if (compile) model.compile({ loss: 'binaryCrossentropy', optimizer: { type: 'adam', learningRate: 0.01 }, metrics: ['accuracy'] })
  return model
}

export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `lstm-native-${prefix}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** All weights as plain arrays, for exact comparisons. */
export function weightsAsArrays(model: Sequential): Record<string, number[]> {
  return Object.fromEntries(Object.entries(model.getWeights()).map(([k, t]) => [k, Array.from(t.data)]))
}

export function allFinite(model: Sequential): boolean {
  return Object.values(model.getWeights()).every((t) => t.data.every((v) => Number.isFinite(v)))
}

function checkError(err: unknown, code: string, message: RegExp | string): LstmError {
  expect(err, `expected an LstmError ${code}, got ${String(err)}`).toBeInstanceOf(LstmError)
  expect(err).toBeInstanceOf(Error)
  const e = err as LstmError
  expect(e.code, e.message).toBe(code)
  if (typeof message === 'string') expect(e.message).toContain(message)
  else expect(e.message).toMatch(message)
  return e
}

/** `fn` must throw (synchronously) an LstmError with this code, and a message naming the offending value. */
export function expectThrows(fn: () => unknown, code: string, message: RegExp | string): LstmError {
  let thrown: unknown
  let threw = false
  try {
    const r = fn()
    if (r instanceof Promise) {
      r.catch(() => {})
      throw new Error('expected a synchronous throw, got a promise')
    }
  } catch (err) {
    thrown = err
    threw = true
  }
  expect(threw, `expected ${code} to be thrown synchronously`).toBe(true)
  return checkError(thrown, code, message)
}

/** `fn` must return a promise (not throw synchronously) that rejects with an LstmError of this code. */
export async function expectRejects(fn: () => Promise<unknown>, code: string, message: RegExp | string): Promise<LstmError> {
  let p: Promise<unknown>
  try {
    p = fn()
  } catch (err) {
    throw new Error(`expected a rejected promise, but it threw synchronously: ${String(err)}`)
  }
  expect(p).toBeInstanceOf(Promise)
  let rejected: unknown
  let didReject = false
  try {
    await p
  } catch (err) {
    rejected = err
    didReject = true
  }
  expect(didReject, `expected ${code}, but the promise resolved`).toBe(true)
  return checkError(rejected, code, message)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** Runs `f`, sync or async, and returns what it threw or rejected with (undefined when it succeeded). */
export async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f()
    return undefined
  } catch (err) {
    return err
  }
}

/** The longest gap between the ticks of a 2 ms interval while `work` runs. */
export async function longestGap<T>(work: () => Promise<T>): Promise<[number, T]> {
  let last = performance.now()
  let longest = 0
  const timer = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, 2)
  try {
    const result = await work()
    longest = Math.max(longest, performance.now() - last)
    return [longest, result]
  } finally {
    clearInterval(timer)
  }
}
