/**
 * Issue 17, class 3: no integer argument wraps or truncates on its way into native code (which takes them as u32).
 * Every integer of every entry is swept with fractions, negatives, values at and past 2³¹ − 1 and 2³², non-finite
 * numbers and non-numbers; each must be a typed error naming the value and the accepted range.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { callbacks, layers, padSequences, Sequential, type Tensor, tensor, Tokenizer } from '../src/index.js'
import { expectRejects, expectThrows, scratchDir, tokenModel, toyTokens } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('integers')
afterAll(cleanup)

const INT32_MAX = 2 ** 31 - 1
/** Bad for every integer argument, whatever its lower bound. */
const ALWAYS_BAD: unknown[] = [1.5, -1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, Number.NaN, Number.POSITIVE_INFINITY, '4', null, 10n, {}]
/** Bad where the lower bound is 1. */
const BAD_COUNT = [0, ...ALWAYS_BAD]

/** The message names the value as given (not wrapped or truncated) and the range. */
function named(v: unknown, range: string): RegExp {
  const shown = typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? `"${v}"` : typeof v === 'object' && v !== null ? 'an object' : String(v)
  return new RegExp(`${range.replace(/[[\]]/g, '\\$&')}.*got ${shown.replace(/[.+]/g, '\\$&')}$`)
}

const lstmIn = (extra: object) => layers.lstm({ units: 2, inputShape: [null, 2], ...extra } as never)

describe('synchronous entries: layer factories, the constructor, tensor(), text and callbacks', () => {
  const cases: [string, unknown[], string, string, (v: unknown) => unknown][] = [
    ['new Sequential numThreads', BAD_COUNT, 'INVALID_CONFIG', '[1, 256]', (v) => new Sequential([lstmIn({})], { numThreads: v as number })],
    ['new Sequential numThreads 257', [257], 'INVALID_CONFIG', '[1, 256]', (v) => new Sequential([lstmIn({})], { numThreads: v as number })],
    ['new Sequential seed', ALWAYS_BAD.filter((v) => v !== 2 ** 31 && v !== 2 ** 32 && v !== 2 ** 32 + 1), 'INVALID_CONFIG', `[0, ${Number.MAX_SAFE_INTEGER}]`, (v) => new Sequential([lstmIn({})], { seed: v as number })],
    ['layers.lstm units', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.lstm({ units: v as number })],
    ['layers.gru units', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.gru({ units: v as number })],
    ['layers.simpleRnn units', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.simpleRnn({ units: v as number })],
    ['layers.dense units', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.dense({ units: v as number })],
    ['layers.embedding inputDim', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.embedding({ inputDim: v as number, outputDim: 2 })],
    ['layers.embedding outputDim', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.embedding({ inputDim: 2, outputDim: v as number })],
    ['layers.conv1d filters', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.conv1d({ filters: v as number, kernelSize: 2 })],
    ['layers.conv1d kernelSize', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.conv1d({ filters: 2, kernelSize: v as number })],
    ['layers.conv1d strides', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.conv1d({ filters: 2, kernelSize: 2, strides: v as number })],
    ['layers.maxPooling1d poolSize', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => layers.maxPooling1d({ poolSize: v as number })],
    ['a hand-written layer description', BAD_COUNT, 'INVALID_CONFIG', `[1, ${INT32_MAX}]`, (v) => new Sequential([{ type: 'dense', units: v as number, inputShape: [2] }])],
    ['tokenizer numWords', ALWAYS_BAD.filter((v) => v !== null), 'INVALID_ARGUMENT', `[0, ${INT32_MAX}]`, (v) => new Tokenizer({ numWords: v as number })],
    ['padSequences maxlen', ALWAYS_BAD, 'INVALID_ARGUMENT', `[0, ${INT32_MAX}]`, (v) => padSequences([[1, 2]], { maxlen: v as number })],
    ['earlyStopping patience', ALWAYS_BAD, 'INVALID_ARGUMENT', `[0, ${INT32_MAX}]`, (v) => callbacks.earlyStopping({ patience: v as number })],
  ]
  for (const [entry, values, code, range, f] of cases) {
    it.each(values.map((v) => [v]))(`${entry}: %s`, (v) => {
      expectThrows(() => f(v), code, named(v, range))
    })
  }

  it.each([[[1.5, 4]], [[2 ** 32 + 1, 4]], [[-1, -4]], [[1, Number.NaN]]])('tensor() shape %j', (shape) => {
    expectThrows(() => tensor(new Float32Array(4), shape), 'SHAPE_MISMATCH', /shape\[\d\].*got/)
  })

  it('layer inputShape dimensions past 2³¹ − 1 or fractional', () => {
    for (const shape of [[null, 2 ** 32 + 2], [1.5, 2], [2 ** 31, 2], [2, 0]]) {
      expectThrows(() => layers.lstm({ units: 2, inputShape: shape as [number, number] }), 'INVALID_CONFIG', /inputShape/)
    }
  })
})

describe('asynchronous and model entries', () => {
  const { x, y } = toyTokens(6, 3)
  const model = tokenModel()
  const cases: [string, unknown[], string, (v: unknown) => Promise<unknown>][] = [
    ['fit batchSize', BAD_COUNT, `[1, ${INT32_MAX}]`, (v) => model.fit(x, y, { batchSize: v as number, verbose: 0 })],
    ['fit epochs', ALWAYS_BAD, `[0, ${INT32_MAX}]`, (v) => model.fit(x, y, { epochs: v as number, verbose: 0 })],
    ['fit initialEpoch', ALWAYS_BAD, `[0, ${INT32_MAX}]`, (v) => model.fit(x, y, { initialEpoch: v as number, verbose: 0 })],
    ['evaluate batchSize', BAD_COUNT, `[1, ${INT32_MAX}]`, (v) => model.evaluate(x, y, { batchSize: v as number })],
    ['predict batchSize', BAD_COUNT, `[1, ${INT32_MAX}]`, (v) => model.predict(x, { batchSize: v as number })],
  ]
  for (const [entry, values, range, f] of cases) {
    it.each(values.map((v) => [v]))(`${entry}: %s`, async (v) => {
      await expectRejects(() => f(v), 'INVALID_ARGUMENT', named(v, range))
    })
  }

  it.each(BAD_COUNT.map((v) => [v]))('predictSync batchSize: %s', (v) => {
    expectThrows(() => model.predictSync(x, { batchSize: v as number }), 'INVALID_ARGUMENT', named(v, `[1, ${INT32_MAX}]`))
  })

  it.each([...BAD_COUNT, 257].map((v) => [v]))('Sequential.load numThreads: %s (the constructor’s range, checked before the file is read)', async (v) => {
    await expectRejects(() => Sequential.load(`${scratch}/missing.safetensors`, { numThreads: v as number }), 'INVALID_CONFIG', named(v, '[1, 256]'))
  })

  it('Sequential.load takes the numThreads the constructor takes', async () => {
    const path = `${scratch}/m.safetensors`
    await model.save(path)
    const loaded = await Sequential.load(path, { numThreads: 2 })
    expect(Array.from(loaded.predictSync(x).data)).toEqual(Array.from(model.predictSync(x).data))
  })

  it('a batchSize above the sample count acts as the sample count, up to 2³¹ − 1', async () => {
    const m = tokenModel()
    const steps: number[] = []
    const h = await m.fit(x, y, { batchSize: INT32_MAX, epochs: 2, verbose: 0, callbacks: [{ setParams: (p) => void steps.push(p.steps) }] })
    expect(steps).toEqual([1])
    expect(h.history.loss).toHaveLength(2)
    const r = await m.evaluate(x, y, { batchSize: INT32_MAX })
    expect(r.loss).toBeCloseTo((await m.evaluate(x, y, { batchSize: 6 })).loss, 6)
  })

  it.each([
    ['a fractional first dimension', [1.5, 3], 3],
    ['a first dimension of 2³² + 1', [2 ** 32 + 1, 3], 3],
    ['a negative dimension', [-1, -3], 3],
  ])('a duck-typed tensor with %s is refused, not truncated or wrapped', async (_, shape, n) => {
    const duck = { data: new Int32Array(n).fill(1), shape, dtype: 'int32' } as unknown as Tensor
    await expectRejects(() => model.predict(duck), 'SHAPE_MISMATCH', /shape\[0\]/)
    expectThrows(() => model.predictStep(duck), 'SHAPE_MISMATCH', /shape\[0\]/)
    await expectRejects(() => model.fit(duck, [[1]], { verbose: 0 }), 'SHAPE_MISMATCH', /shape\[0\]/)
  })
})
