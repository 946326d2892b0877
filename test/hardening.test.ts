/**
 * Hardening through the public API: bad input of every kind the "Ship it" list names, on the paths that
 * test/errors.test.ts does not already take (the other methods: evaluate, trainOnBatch, predictSync, predictStep,
 * validationData; other forms of each bad value; other kinds of wrong files). Each must be an `LstmError` with its
 * code and a message naming the offending value; the process (this test worker) lives on, and the last test trains
 * and predicts after all of them.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { layers, Sequential, type Tensor, tensor } from '../src/index.js'
import { allFinite, expectRejects, expectThrows, scratchDir, tokenModel, toyFloats, toyTokens } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('hardening')
afterAll(cleanup)

/** LSTM over `[B, T, 3]` float features → dense 1, mse. */
function floatModel(): Sequential {
  const m = new Sequential([layers.lstm({ units: 4, inputShape: [null, 3] }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 })
  m.compile({ loss: 'mse', optimizer: 'sgd' })
  return m
}

/** embedding(10 → 3) → LSTM 2 → dense 3 logits, sparse categorical cross-entropy. */
function classModel(): Sequential {
  const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 3 }), layers.lstm({ units: 2 }), layers.dense({ units: 3 })], { numThreads: 1 })
  m.compile({ loss: { type: 'sparseCategoricalCrossentropy', fromLogits: true } })
  return m
}

function ids(rows: number[][]): Tensor {
  return tensor(Int32Array.from(rows.flat()), [rows.length, rows[0].length])
}

function floats(shape: number[], at?: [number, number]): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.25)
  if (at) data[at[0]] = at[1]
  return tensor(data, shape)
}

function unchanged(before: Record<string, Tensor>, m: Sequential): void {
  const after = m.getWeights()
  for (const k of Object.keys(before)) expect(Array.from(after[k].data), k).toEqual(Array.from(before[k].data))
}

describe('token ids ≥ inputDim, negative, or not integers', () => {
  it('≥ inputDim: in fit (typed), trainOnBatch, predictStep and validationData', async () => {
    const m = tokenModel({ vocab: 10 })
    await expectRejects(() => m.fit(ids([[1, 2, 3], [4, 5, 10]]), [[0], [1]], { verbose: 0 }), 'INDEX_OUT_OF_RANGE', /index 10\b.*\[0, 10\).*x\[1, 2\]/)
    await expectRejects(() => m.trainOnBatch(ids([[1, 2, 99]]), [[1]]), 'INDEX_OUT_OF_RANGE', /\b99\b/)
    expectThrows(() => m.predictStep(ids([[11]])), 'INDEX_OUT_OF_RANGE', /\b11\b/)
    await expectRejects(() => m.fit([[1, 2, 3]], [[1]], { verbose: 0, validationData: [[[1, 2, 10]], [[1]]] }), 'INDEX_OUT_OF_RANGE', /\b10\b/)
  })

  it('negative: in predictSync, evaluate and trainOnBatch', async () => {
    const m = tokenModel({ vocab: 10 })
    expectThrows(() => m.predictSync(ids([[1, -1, 3]])), 'INDEX_OUT_OF_RANGE', /-1\b.*x\[0, 1\]/)
    await expectRejects(() => m.evaluate(ids([[1, -7, 3]]), [[1]]), 'INDEX_OUT_OF_RANGE', /-7\b/)
    await expectRejects(() => m.trainOnBatch([[-2147483648, 1, 2]], [[1]]), 'INDEX_OUT_OF_RANGE', /-2147483648/)
  })

  it('not integers: in evaluate, trainOnBatch and validationData (nested arrays), and a float tensor in evaluate', async () => {
    const m = tokenModel()
    await expectRejects(() => m.evaluate([[1, 2.5, 3]], [[1]]), 'INVALID_ARGUMENT', /2\.5.*x\[0, 1\]/)
    await expectRejects(() => m.trainOnBatch([[1, 2, 3.75]], [[1]]), 'INVALID_ARGUMENT', /3\.75/)
    await expectRejects(() => m.fit([[1, 2, 3]], [[1]], { verbose: 0, validationData: [[[1, 0.5, 3]], [[1]]] }), 'INVALID_ARGUMENT', /0\.5.*validationData x/)
    // tensor() of a number[] is float32, even when every value is whole: an embedding refuses it.
    await expectRejects(() => m.evaluate(tensor([1, 2, 3], [1, 3]), [[1]]), 'INVALID_ARGUMENT', /float32/)
  })

  it('ids beyond the int32 range in nested arrays are INDEX_OUT_OF_RANGE naming the value given', async () => {
    const m = tokenModel({ vocab: 10 })
    await expectRejects(() => m.predict([[1, 2, 2 ** 32 + 3]]), 'INDEX_OUT_OF_RANGE', /4294967299/)
    await expectRejects(() => m.predict([[1, 2, 1e10]]), 'INDEX_OUT_OF_RANGE', /10000000000|1e\+?10/)
  })
})

describe('NaN / Infinity in x or y', () => {
  it.each([
    ['NaN', Number.NaN, /NaN/],
    ['Infinity', Number.POSITIVE_INFINITY, /inf/i],
  ])('%s in x: predictSync, predictStep, trainOnBatch, validationData', async (_, v, named) => {
    const m = floatModel()
    expectThrows(() => m.predictSync(floats([1, 2, 3], [4, v])), 'NON_FINITE', named)
    expectThrows(() => m.predictStep(floats([1, 1, 3], [2, v])), 'NON_FINITE', named)
    await expectRejects(() => m.trainOnBatch(floats([1, 2, 3], [0, v]), [[1]]), 'NON_FINITE', named)
    await expectRejects(() => m.fit(floats([1, 2, 3]), [[1]], { verbose: 0, validationData: [floats([1, 2, 3], [5, v]), [[1]]] }), 'NON_FINITE', named)
  })

  it('in y: -Infinity, NaN in validationData y, NaN class ids, nested Infinity for a token model', async () => {
    await expectRejects(() => floatModel().fit(floats([1, 2, 3]), [[Number.NEGATIVE_INFINITY]], { verbose: 0 }), 'NON_FINITE', /-inf/i)
    await expectRejects(() => floatModel().fit(floats([1, 2, 3]), [[1]], { verbose: 0, validationData: [floats([1, 2, 3]), [[Number.NaN]]] }), 'NON_FINITE', /NaN/)
    await expectRejects(() => classModel().fit([[1, 2], [3, 4]], [1, Number.NaN], { verbose: 0 }), 'NON_FINITE', /NaN.*y\[1\]/)
    await expectRejects(() => tokenModel().fit(ids([[1, 2, 3], [4, 5, 6]]), [[0], [Number.POSITIVE_INFINITY]], { verbose: 0 }), 'NON_FINITE', /inf.*y\[1, 0\]/i)
  })
})

describe('mismatched x / y lengths', () => {
  it('trainOnBatch, validationData, and y longer than x', async () => {
    const { x } = toyTokens(2)
    await expectRejects(() => tokenModel().trainOnBatch(x, [[1]]), 'SHAPE_MISMATCH', /\b2\b.*\b1\b/)
    await expectRejects(() => floatModel().fit(floats([1, 2, 3]), [[1]], { verbose: 0, validationData: [floats([2, 2, 3]), [[1]]] }), 'SHAPE_MISMATCH', /expected 2, got 1/)
    await expectRejects(() => tokenModel().fit([[1, 2, 3]], [[1], [0], [1]], { verbose: 0 }), 'SHAPE_MISMATCH', /1 samples but y has 3/)
  })
})

describe('wrong rank', () => {
  it('x: in fit, evaluate and predictSync, for float and token models', async () => {
    await expectRejects(() => floatModel().fit(floats([2, 3]), [[1], [0]], { verbose: 0 }), 'SHAPE_MISMATCH', /\[2, 3\]/)
    await expectRejects(() => floatModel().evaluate(floats([2, 3]), [[1], [0]]), 'SHAPE_MISMATCH', /\[2, 3\]/)
    expectThrows(() => floatModel().predictSync(floats([6])), 'SHAPE_MISMATCH', /\[6\]/)
    await expectRejects(() => tokenModel().fit(tensor(new Int32Array([1, 2, 3]), [3]), floats([3, 1]), { verbose: 0 }), 'SHAPE_MISMATCH', /\[3\]/)
  })

  it('y of the wrong width for the output', async () => {
    await expectRejects(() => tokenModel().fit(ids([[1, 2, 3], [4, 5, 6]]), floats([2, 2]), { verbose: 0 }), 'SHAPE_MISMATCH', /\[2, 1\], got \[2, 2\]/)
  })
})

describe('empty dataset', () => {
  it('empty nested arrays in fit; zero samples in predict, predictSync, evaluate, trainOnBatch; zero timesteps', async () => {
    const m = tokenModel()
    await expectRejects(() => m.fit([], [], { verbose: 0 }), 'INVALID_ARGUMENT', /empty.*\[0\]/)
    const none = tensor(new Int32Array(0), [0, 3])
    await expectRejects(() => m.predict(none), 'INVALID_ARGUMENT', /empty.*\[0, 3\]/)
    expectThrows(() => m.predictSync(none), 'INVALID_ARGUMENT', /empty.*\[0, 3\]/)
    await expectRejects(() => m.evaluate(none, tensor(new Float32Array(0), [0, 1])), 'INVALID_ARGUMENT', /empty.*\[0, 3\]/)
    await expectRejects(() => m.trainOnBatch(none, tensor(new Float32Array(0), [0, 1])), 'INVALID_ARGUMENT', /empty.*\[0, 3\]/)
    await expectRejects(() => m.fit(tensor(new Int32Array(0), [2, 0]), floats([2, 1]), { verbose: 0 }), 'SHAPE_MISMATCH', /timesteps.*got 0/)
  })
})

describe('batchSize and epochs', () => {
  it.each([-1, 1.5, Number.NaN])('batchSize %s', async (b) => {
    const m = tokenModel()
    const { x, y } = toyTokens(4)
    await expectRejects(() => m.fit(x, y, { batchSize: b, verbose: 0 }), 'INVALID_ARGUMENT', `batchSize must be an integer in [1, 2147483647], got ${typeof b === 'string' ? `"${b}"` : b}`)
    await expectRejects(() => m.predict(x, { batchSize: b }), 'INVALID_ARGUMENT', `got ${b}`)
  })

  it('batchSize 0 in predictSync', () => {
    expectThrows(() => tokenModel().predictSync(toyTokens(2).x, { batchSize: 0 }), 'INVALID_ARGUMENT', /batchSize.*got 0/)
  })

  it.each([1.5, Number.NaN, Number.NEGATIVE_INFINITY, '2'])('epochs %s', async (e) => {
    const m = tokenModel()
    const { x, y } = toyTokens(4)
    // @ts-expect-error '2' is not a number
    await expectRejects(() => m.fit(x, y, { epochs: e, verbose: 0 }), 'INVALID_ARGUMENT', `epochs must be an integer in [0, 2147483647], got ${typeof e === 'string' ? `"${e}"` : e}`)
  })

  it('initialEpoch -1', async () => {
    const { x, y } = toyTokens(4)
    await expectRejects(() => tokenModel().fit(x, y, { initialEpoch: -1, verbose: 0 }), 'INVALID_ARGUMENT', /initialEpoch.*-1/)
  })
})

describe('unknown loss, optimizer, activation; bad compile options', () => {
  it('object forms: { type: "hinge" }, { type: "adagrad" }', () => {
    const m = tokenModel({ compile: false })
    // @ts-expect-error a loss the library does not know
    expectThrows(() => m.compile({ loss: { type: 'hinge' } }), 'INVALID_CONFIG', /"hinge"/)
    // @ts-expect-error an optimizer the library does not know
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'adagrad' } }), 'INVALID_CONFIG', /"adagrad"/)
  })

  it('activations: null, "softplus", and an activation option on an LSTM (not one of its options)', () => {
    // @ts-expect-error null is not an activation
    expectThrows(() => layers.dense({ units: 2, activation: null }), 'INVALID_CONFIG', /activation null/)
    // @ts-expect-error an activation the library does not know
    expectThrows(() => layers.dense({ units: 2, activation: 'softplus' }), 'INVALID_CONFIG', /"softplus"/)
    // @ts-expect-error LSTM activations are fixed (tanh, sigmoid gates)
    expectThrows(() => layers.lstm({ units: 2, activation: 'relu' }), 'INVALID_CONFIG', /"activation"/)
  })

  it('out-of-range hyperparameters, an unknown metric, a missing loss', () => {
    const m = tokenModel({ compile: false })
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'adam', learningRate: -1 } }), 'INVALID_CONFIG', /learningRate.*-1/)
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'rmsprop', rho: 2 } }), 'INVALID_CONFIG', /rho.*\b2\b/)
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'sgd', momentum: -1 } }), 'INVALID_CONFIG', /momentum.*-1/)
    expectThrows(() => m.compile({ loss: 'mse', metrics: ['mae'] }), 'INVALID_CONFIG', /"mae"/)
    // @ts-expect-error loss is required
    expectThrows(() => m.compile({}), 'INVALID_CONFIG', /loss is required/)
  })

  it('NaN or Infinity hyperparameters are INVALID_CONFIG naming the value', () => {
    const m = tokenModel({ compile: false })
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'sgd', learningRate: Number.NaN } }), 'INVALID_CONFIG', /learningRate.*NaN/)
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'adam', learningRate: Number.POSITIVE_INFINITY } }), 'INVALID_CONFIG', /learningRate.*Infinity/)
    expectThrows(() => m.compile({ loss: 'mse', optimizer: { type: 'adam', clipnorm: Number.NaN } }), 'INVALID_CONFIG', /clipnorm.*NaN/)
  })
})

describe('validationSplit and validationData', () => {
  it('a string split, and a split that leaves an empty set', async () => {
    const { x, y } = toyTokens(2)
    // @ts-expect-error a string is not a number
    await expectRejects(() => tokenModel().fit(x, y, { validationSplit: '0.5', verbose: 0 }), 'INVALID_ARGUMENT', /validationSplit must be in \[0, 1\), got "0\.5"/)
    await expectRejects(() => tokenModel().fit(x, y, { validationSplit: 0.99, verbose: 0 }), 'INVALID_ARGUMENT', /0\.99 of 2 samples/)
  })

  it('validationData that is not an [x, y] pair is INVALID_ARGUMENT', async () => {
    const { x, y } = toyTokens(2)
    // @ts-expect-error not a pair
    await expectRejects(() => tokenModel().fit(x, y, { validationData: 5, verbose: 0 }), 'INVALID_ARGUMENT', /validationData.*5/)
  })
})

describe('loading into a different architecture', () => {
  it('loadWeights from a float-input model, a deeper model, and a model with another vocabulary; weights unchanged', async () => {
    const files = {
      float: join(scratch, 'float-input.safetensors'),
      deeper: join(scratch, 'deeper.safetensors'),
      vocab: join(scratch, 'vocab-12.safetensors'),
    }
    await floatModel().save(files.float)
    await new Sequential(
      [layers.embedding({ inputDim: 10, outputDim: 8 }), layers.lstm({ units: 8, returnSequences: true }), layers.lstm({ units: 8 }), layers.dense({ units: 1 })],
      { numThreads: 1 },
    ).save(files.deeper)
    await tokenModel({ vocab: 12 }).save(files.vocab)
    const m = tokenModel({ vocab: 10 })
    const before = m.getWeights()
    await expectRejects(() => m.loadWeights(files.float), 'CORRUPT_WEIGHTS', /float-input\.safetensors.*missing tensor 0\.weight/)
    await expectRejects(() => m.loadWeights(files.deeper), 'CORRUPT_WEIGHTS', /deeper\.safetensors.*missing tensor/)
    await expectRejects(() => m.loadWeights(files.vocab), 'CORRUPT_WEIGHTS', /vocab-12\.safetensors.*0\.weight.*\[12, 8\].*\[10, 8\]/)
    unchanged(before, m)
    expect(m.predictSync(toyTokens(2).x).shape).toEqual([2, 1])
  })
})

describe('files that do not exist, cannot be written, or are directories', () => {
  const file = () => {
    const f = join(scratch, 'a-file')
    writeFileSync(f, 'not a folder')
    return f
  }

  it('a path through a regular file (not a directory), for load, loadWeights and save', async () => {
    const through = join(file(), 'model.safetensors')
    await expectRejects(() => Sequential.load(through), 'IO', through)
    await expectRejects(() => tokenModel().loadWeights(through), 'IO', through)
    await expectRejects(() => tokenModel().save(through), 'IO', through)
  })

  it.skipIf(process.platform === 'win32')('a device instead of a file (read forever otherwise)', async () => {
    await expectRejects(() => Sequential.load('/dev/zero'), 'IO', /\/dev\/zero.*not a regular file/)
  })

  it('saveWeights to a directory; save to an empty path', async () => {
    const folder = join(scratch, 'a-folder')
    mkdirSync(folder, { recursive: true })
    await expectRejects(() => tokenModel().saveWeights(folder), 'IO', /a-folder.*directory/)
    await expectRejects(() => tokenModel().save(''), 'IO', /no file name/)
  })
})

describe('after all of the above', () => {
  it('the process is alive: fresh models train, predict, save and load', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(64)
    const h = await m.fit(x, y, { epochs: 3, verbose: 0 })
    expect(h.history.loss.every(Number.isFinite)).toBe(true)
    expect(allFinite(m)).toBe(true)
    const path = join(scratch, 'alive.safetensors')
    await m.save(path)
    const again = await Sequential.load(path)
    expect(Array.from(again.predictSync(x).data)).toEqual(Array.from(m.predictSync(x).data))
    const f = floatModel()
    const { x: fx, y: fy } = toyFloats(16)
    expect(Number.isFinite((await f.fit(fx, fy, { epochs: 2, verbose: 0 })).history.loss[1])).toBe(true)
  })
})
