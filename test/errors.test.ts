/**
 * Every error code, produced by a real bad input through the public API. Each error must be an `LstmError` with a
 * stable `.code` and a message naming the offending value. Configuration errors (layer factories, the Sequential
 * constructor, compile, tensor()) throw synchronously; data errors reject the returned promise. The process (this
 * test worker) must live on after each: the last test trains and predicts after all of them.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { layers, LstmError, Sequential, type Tensor, tensor } from '../src/index.js'
import { allFinite, expectRejects, expectThrows, scratchDir, sleep, tokenModel, toyFloats, toyTokens } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('errors')
afterAll(cleanup)

/** A float-input model: LSTM over `[B, T, 3]` → dense 1. */
function floatModel(): Sequential {
  const m = new Sequential([layers.lstm({ units: 4, inputShape: [null, 3] }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 })
  m.compile({ loss: 'mse', optimizer: 'sgd' })
  return m
}

/** Long enough to still be training when a timer fires: ends early through its AbortSignal. */
function slowFit(model: Sequential) {
  const { x, y } = toyTokens(2000, 40, 10, 5)
  const controller = new AbortController()
  const done = model.fit(x, y, { epochs: 1000, batchSize: 16, verbose: 0, signal: controller.signal })
  return { done, controller }
}

function tokens(rows: number[][]): Tensor {
  return tensor(Int32Array.from(rows.flat()), [rows.length, rows[0].length])
}

describe('INDEX_OUT_OF_RANGE', () => {
  it('a token ≥ inputDim, in predict (rejects) and predictSync (throws)', async () => {
    const m = tokenModel({ vocab: 10 })
    const e = await expectRejects(() => m.predict(tokens([[1, 2, 3], [4, 12, 5]])), 'INDEX_OUT_OF_RANGE', /\b12\b/)
    expect(e.message).toMatch(/\b10\b/) // names the limit too
    expectThrows(() => m.predictSync(tokens([[1, 2, 10]])), 'INDEX_OUT_OF_RANGE', /\b10\b/)
  })

  it('a negative token, in fit', async () => {
    const m = tokenModel({ vocab: 10 })
    await expectRejects(() => m.fit(tokens([[1, 2, 3], [4, -3, 5]]), [[0], [1]], { verbose: 0 }), 'INDEX_OUT_OF_RANGE', /-3\b/)
  })

  it('an out-of-range token in nested arrays, in evaluate', async () => {
    const m = tokenModel({ vocab: 10 })
    await expectRejects(() => m.evaluate([[1, 2, 1000]], [[1]]), 'INDEX_OUT_OF_RANGE', /\b1000\b/)
  })
})

describe('INVALID_ARGUMENT', () => {
  it('a float tensor into an embedding', async () => {
    const m = tokenModel()
    await expectRejects(() => m.predict(tensor(new Float32Array([1, 2, 3]), [1, 3])), 'INVALID_ARGUMENT', /float32/)
    await expectRejects(() => m.fit(tensor(new Float32Array([1, 2, 3]), [1, 3]), [[1]], { verbose: 0 }), 'INVALID_ARGUMENT', /float32/)
  })

  it('non-integer token ids in nested arrays', async () => {
    const m = tokenModel()
    await expectRejects(() => m.fit([[1, 2.5, 3]], [[1]], { verbose: 0 }), 'INVALID_ARGUMENT', /2\.5/)
    await expectRejects(() => m.predict([[1, 2, 3.25]]), 'INVALID_ARGUMENT', /3\.25/)
  })

  it('setWeights with an unknown name or a value that is not a Tensor (sync)', () => {
    const m = tokenModel()
    expectThrows(() => m.setWeights({ '9.weight': tensor([1]) }), 'INVALID_ARGUMENT', /"9\.weight".*"0\.weight"/)
    // @ts-expect-error a plain array is not a Tensor
    expectThrows(() => m.setWeights({ '2.bias': [0.5] }), 'INVALID_ARGUMENT', /2\.bias must be a Tensor.*Array/)
    // @ts-expect-error undefined is not a Tensor
    expectThrows(() => m.setWeights({ '2.bias': undefined }), 'INVALID_ARGUMENT', /2\.bias must be a Tensor.*undefined/)
  })

  it('a class id out of range for sparse categorical cross-entropy', async () => {
    const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 3 }), layers.lstm({ units: 2 }), layers.dense({ units: 3 })], { numThreads: 1 })
    m.compile({ loss: { type: 'sparseCategoricalCrossentropy', fromLogits: true } })
    await expectRejects(() => m.fit([[1, 2], [3, 4]], [1, 7], { verbose: 0 }), 'INDEX_OUT_OF_RANGE', /\b7\b.*\[0, 3\).*y\[1\]/)
    await expectRejects(() => m.evaluate([[1, 2], [3, 4]], tensor(new Int32Array([-1, 2]), [2])), 'INDEX_OUT_OF_RANGE', /-1\b.*y\[0\]/)
  })

  it('a fractional class id is INVALID_ARGUMENT naming the value', async () => {
    const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 3 }), layers.lstm({ units: 2 }), layers.dense({ units: 3 })], { numThreads: 1 })
    m.compile({ loss: { type: 'sparseCategoricalCrossentropy', fromLogits: true } })
    await expectRejects(() => m.fit([[1, 2], [3, 4]], [1.5, 2], { verbose: 0 }), 'INVALID_ARGUMENT', /1\.5/)
  })

  it('an empty dataset', async () => {
    const m = tokenModel()
    await expectRejects(() => m.fit(tensor(new Int32Array(0), [0, 5]), tensor(new Float32Array(0), [0, 1]), { verbose: 0 }), 'INVALID_ARGUMENT', /empty.*\[0, 5\]/)
  })

  it('batchSize 0', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(4)
    await expectRejects(() => m.fit(x, y, { batchSize: 0, verbose: 0 }), 'INVALID_ARGUMENT', /batchSize.*\b0\b/)
    await expectRejects(() => m.predict(x, { batchSize: 0 }), 'INVALID_ARGUMENT', /batchSize.*\b0\b/)
    await expectRejects(() => m.evaluate(x, y, { batchSize: 0 }), 'INVALID_ARGUMENT', /batchSize.*\b0\b/)
  })

  it('epochs < 0', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(4)
    await expectRejects(() => m.fit(x, y, { epochs: -1, verbose: 0 }), 'INVALID_ARGUMENT', /epochs.*-1/)
  })

  it.each([1, -0.1, 1.5, Number.NaN])('validationSplit %s outside [0, 1)', async (split) => {
    const m = tokenModel()
    const { x, y } = toyTokens(10)
    await expectRejects(() => m.fit(x, y, { validationSplit: split, verbose: 0 }), 'INVALID_ARGUMENT', `validationSplit must be in [0, 1), got ${split}`)
  })
})

describe('NON_FINITE', () => {
  const { x, y } = toyFloats(4)
  const withAt = (t: Tensor, i: number, v: number): Tensor => {
    const data = Float32Array.from(t.data)
    data[i] = v
    return tensor(data, t.shape)
  }

  it.each([
    ['NaN', Number.NaN, /NaN/],
    ['Infinity', Number.POSITIVE_INFINITY, /inf/i],
    ['-Infinity', Number.NEGATIVE_INFINITY, /-inf/i],
  ])('%s in x', async (_, v, named) => {
    const m = floatModel()
    await expectRejects(() => m.fit(withAt(x, 7, v), y, { verbose: 0 }), 'NON_FINITE', named)
    await expectRejects(() => m.predict(withAt(x, 7, v)), 'NON_FINITE', named)
  })

  it.each([
    ['NaN', Number.NaN, /NaN/],
    ['Infinity', Number.POSITIVE_INFINITY, /inf/i],
  ])('%s in y', async (_, v, named) => {
    const m = floatModel()
    await expectRejects(() => m.fit(x, withAt(y, 2, v), { verbose: 0 }), 'NON_FINITE', named)
    await expectRejects(() => m.evaluate(x, withAt(y, 2, v)), 'NON_FINITE', named)
  })

  it('NaN in nested-array y and Infinity in nested token ids', async () => {
    const m = tokenModel()
    await expectRejects(() => m.fit([[1, 2, 3]], [[Number.NaN]], { verbose: 0 }), 'NON_FINITE', /NaN/)
    await expectRejects(() => m.fit([[1, Number.POSITIVE_INFINITY, 3]], [[1]], { verbose: 0 }), 'NON_FINITE', /Infinity/)
  })
})

describe('SHAPE_MISMATCH', () => {
  it('x and y of different lengths', async () => {
    const m = tokenModel()
    const { x } = toyTokens(4)
    const { y } = toyTokens(3)
    await expectRejects(() => m.fit(x, y, { verbose: 0 }), 'SHAPE_MISMATCH', /\b4\b.*\b3\b/)
    await expectRejects(() => m.evaluate(x, y), 'SHAPE_MISMATCH', /\b4\b.*\b3\b/)
  })

  it('x of the wrong rank', async () => {
    // An LSTM over float features takes [B, T, F]; give it [B, F].
    const m = floatModel()
    await expectRejects(() => m.predict(tensor(new Float32Array(6), [2, 3])), 'SHAPE_MISMATCH', /\[2, 3\]|rank|3-D|2-D|2 dims/i)
    // An embedding takes [B, T]; give it [B, T, 1].
    const t = tokenModel()
    await expectRejects(() => t.predict(tensor(new Int32Array(6).fill(1), [2, 3, 1])), 'SHAPE_MISMATCH', /\[2, 3, 1\]|rank|2-D|3-D|3 dims/i)
  })

  it('features that do not match the built layer', async () => {
    const m = floatModel()
    await expectRejects(() => m.predict(tensor(new Float32Array(2 * 4 * 5), [2, 4, 5])), 'SHAPE_MISMATCH', /expected 3, got 5/)
  })

  it('tensor(): data length ≠ product of the shape (sync)', () => {
    expectThrows(() => tensor(new Float32Array(5), [2, 3]), 'SHAPE_MISMATCH', /5 elements.*\[2, 3\].*6/)
    expectThrows(() => tensor([1, 2, 3], [2, 2]), 'SHAPE_MISMATCH', /3 elements/)
  })

  it('setWeights with a wrong shape (sync), leaving every weight unchanged', () => {
    const m = tokenModel()
    const before = m.getWeights()
    const bad = { '2.weight': tensor(new Float32Array(10), [1, 10]) }
    expectThrows(() => m.setWeights({ '0.weight': before['0.weight'], ...bad }), 'SHAPE_MISMATCH', /2\.weight.*\[1, 8\].*\[1, 10\]/)
    expectThrows(() => m.setWeights({ '2.weight': tensor(new Float32Array(8), [2, 4]) }), 'SHAPE_MISMATCH', /2\.weight/)
    const after = m.getWeights()
    for (const k of Object.keys(before)) expect(Array.from(after[k].data)).toEqual(Array.from(before[k].data))
  })

  it('ragged nested arrays are INVALID_ARGUMENT, not SHAPE_MISMATCH: the data is malformed, not of the wrong shape', async () => {
    const m = tokenModel()
    await expectRejects(() => m.predict([[1, 2, 3], [4, 5]] as number[][]), 'INVALID_ARGUMENT', /ragged.*x\[1\]/)
  })
})

describe('INVALID_CONFIG', () => {
  it('an unknown loss (compile throws synchronously)', () => {
    const m = tokenModel({ compile: false })
    // @ts-expect-error a loss the library does not know
    expectThrows(() => m.compile({ loss: 'hinge' }), 'INVALID_CONFIG', /hinge/)
  })

  it('an unknown optimizer', () => {
    const m = tokenModel({ compile: false })
    // @ts-expect-error an optimizer the library does not know
    expectThrows(() => m.compile({ loss: 'mse', optimizer: 'adagrad' }), 'INVALID_CONFIG', /adagrad/)
  })

  it('an unknown activation', () => {
    // @ts-expect-error an activation the library does not know
    expectThrows(() => layers.dense({ units: 2, activation: 'gelu' }), 'INVALID_CONFIG', /gelu/)
  })

  it('units 0', () => {
    expectThrows(() => layers.lstm({ units: 0 }), 'INVALID_CONFIG', /units.*\b0\b/)
    expectThrows(() => layers.dense({ units: 0 }), 'INVALID_CONFIG', /units.*\b0\b/)
  })

  it.each([1, -0.1, 1.5])('a dropout rate %s outside [0, 1)', (rate) => {
    expectThrows(() => layers.dropout({ rate }), 'INVALID_CONFIG', `got ${rate}`)
    expectThrows(() => layers.lstm({ units: 2, dropout: rate }), 'INVALID_CONFIG', `got ${rate}`)
    expectThrows(() => layers.lstm({ units: 2, recurrentDropout: rate }), 'INVALID_CONFIG', `got ${rate}`)
  })

  it('an unknown option name in a factory', () => {
    // @ts-expect-error `unit` is not an option
    expectThrows(() => layers.lstm({ unit: 4 }), 'INVALID_CONFIG', /"unit"/)
  })

  it('the Sequential constructor throws synchronously on bad layers or options', () => {
    expectThrows(() => new Sequential([]), 'INVALID_CONFIG', /non-empty/)
    // @ts-expect-error not a layer
    expectThrows(() => new Sequential([{ type: 'conv2d' }]), 'INVALID_CONFIG', /conv2d/)
    expectThrows(() => new Sequential([layers.dense({ units: 1 })], { numThreads: 0 }), 'INVALID_CONFIG', /numThreads.*\b0\b/)
    expectThrows(() => new Sequential([layers.dense({ units: 1 })], { seed: -2 }), 'INVALID_CONFIG', /seed.*-2/)
  })

  it('fit, evaluate and trainOnBatch before compile reject', async () => {
    const m = tokenModel({ compile: false })
    const { x, y } = toyTokens(4)
    await expectRejects(() => m.fit(x, y, { verbose: 0 }), 'INVALID_CONFIG', /fit\(\) before compile/)
    await expectRejects(() => m.evaluate(x, y), 'INVALID_CONFIG', /evaluate\(\) before compile/)
    await expectRejects(() => m.trainOnBatch(x, y), 'INVALID_CONFIG', /trainOnBatch\(\) before compile/)
    // A failed fit leaves the model idle: predict still works.
    expect((await m.predict(x)).shape).toEqual([4, 1])
  })
})

describe('CORRUPT_WEIGHTS', () => {
  it('a truncated model file', async () => {
    const m = tokenModel()
    const good = join(scratch, 'good.safetensors')
    await m.save(good)
    const bytes = readFileSync(good)
    const truncated = join(scratch, 'truncated.safetensors')
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)))
    await expectRejects(() => Sequential.load(truncated), 'CORRUPT_WEIGHTS', 'truncated.safetensors')
    await expectRejects(() => tokenModel().loadWeights(truncated), 'CORRUPT_WEIGHTS', 'truncated.safetensors')
  })

  it('a header that is not JSON, and a file that is not safetensors at all', async () => {
    const garbled = join(scratch, 'garbled.safetensors')
    const header = Buffer.from('{"this is": not json', 'utf8')
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(header.length))
    writeFileSync(garbled, Buffer.concat([len, header]))
    await expectRejects(() => Sequential.load(garbled), 'CORRUPT_WEIGHTS', 'garbled.safetensors')

    const text = join(scratch, 'notes.txt')
    writeFileSync(text, 'these are not the weights you are looking for\n')
    await expectRejects(() => Sequential.load(text), 'CORRUPT_WEIGHTS', 'notes.txt')
    await expectRejects(() => tokenModel().loadWeights(text), 'CORRUPT_WEIGHTS', 'notes.txt')
  })

  it('weights of another architecture given to loadWeights, leaving the model unchanged', async () => {
    const other = new Sequential([layers.embedding({ inputDim: 10, outputDim: 8 }), layers.lstm({ units: 16 }), layers.dense({ units: 1 })], { seed: 2 })
    const path = join(scratch, 'other.safetensors')
    await other.saveWeights(path)
    const m = tokenModel()
    const before = m.getWeights()
    await expectRejects(() => m.loadWeights(path), 'CORRUPT_WEIGHTS', 'other.safetensors')
    const after = m.getWeights()
    for (const k of Object.keys(before)) expect(Array.from(after[k].data)).toEqual(Array.from(before[k].data))
  })
})

describe('IO', () => {
  it('a missing file', async () => {
    const missing = join(scratch, 'no-such-model.safetensors')
    await expectRejects(() => Sequential.load(missing), 'IO', 'no-such-model.safetensors')
    await expectRejects(() => tokenModel().loadWeights(missing), 'IO', 'no-such-model.safetensors')
  })

  it('a directory where a file is expected; a failed save leaves no temporary file behind', async () => {
    const parent = join(scratch, 'dir-case')
    const folder = join(parent, 'a-folder')
    mkdirSync(folder, { recursive: true })
    await expectRejects(() => Sequential.load(folder), 'IO', 'a-folder')
    await expectRejects(() => tokenModel().loadWeights(folder), 'IO', 'a-folder')
    await expectRejects(() => tokenModel().save(folder), 'IO', 'a-folder')
    expect(readdirSync(parent)).toEqual(['a-folder'])
    expect(readdirSync(folder)).toEqual([])
  })

  it('an unwritable path', async () => {
    // As root, permission bits do not stop writes, so use a folder the kernel refuses files in; otherwise a read-only folder.
    let target: string
    if (process.getuid?.() === 0) {
      target = '/sys/lstm-native-test.safetensors'
    } else {
      const ro = join(scratch, 'read-only')
      mkdirSync(ro, { mode: 0o555 })
      target = join(ro, 'model.safetensors')
    }
    let writable = true
    try {
      writeFileSync(target, 'x')
    } catch {
      writable = false
    }
    expect(writable, `${target} should not be writable for this test`).toBe(false)
    await expectRejects(() => tokenModel().save(target), 'IO', target)
    await expectRejects(() => tokenModel().saveWeights(target), 'IO', target)
  })

  it('a missing parent folder for save, which save does not create', async () => {
    const parent = join(scratch, 'missing-parent')
    const target = join(parent, 'deeper', 'model.safetensors')
    await expectRejects(() => tokenModel().save(target), 'IO', 'missing-parent')
    expect(existsSync(parent)).toBe(false)
  })
})

describe('MODEL_BUSY', () => {
  it('is set synchronously by fit(): predictSync and getWeights right after the call', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(64)
    const p = m.fit(x, y, { epochs: 1, verbose: 0 })
    expectThrows(() => m.predictSync(x), 'MODEL_BUSY', 'predictSync()')
    expectThrows(() => m.getWeights(), 'MODEL_BUSY', 'getWeights()')
    expectThrows(() => m.summary(() => {}), 'MODEL_BUSY', 'summary()')
    expectThrows(() => m.compile({ loss: 'mse' }), 'MODEL_BUSY', 'compile()')
    await p
    expect(m.predictSync(x).shape).toEqual([64, 1])
  })

  it('predict, save, setWeights and fit called from outside while fit runs', async () => {
    const m = tokenModel()
    const weights = m.getWeights()
    const { done, controller } = slowFit(m)
    await sleep(100) // well inside the native training loop
    const { x, y } = toyTokens(4)
    await expectRejects(() => m.predict(x), 'MODEL_BUSY', 'predict()')
    await expectRejects(() => m.save(join(scratch, 'busy.safetensors')), 'MODEL_BUSY', 'save()')
    expectThrows(() => m.setWeights(weights), 'MODEL_BUSY', 'setWeights()')
    await expectRejects(() => m.fit(x, y, { verbose: 0 }), 'MODEL_BUSY', 'fit()')
    await expectRejects(() => m.evaluate(x, y), 'MODEL_BUSY', 'evaluate()')
    await expectRejects(() => m.loadWeights(join(scratch, 'busy.safetensors')), 'MODEL_BUSY', 'loadWeights()')
    expect(existsSync(join(scratch, 'busy.safetensors'))).toBe(false)
    controller.abort()
    await expect(done).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('calls from outside stay refused while an async callback is paused, but the callback itself may call', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(32)
    let hookStarted!: () => void
    const started = new Promise<void>((r) => (hookStarted = r))
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    let inside: unknown
    const p = m.fit(x, y, {
      epochs: 1,
      verbose: 0,
      callbacks: [
        {
          async onEpochEnd() {
            hookStarted()
            await released
            inside = m.getWeights() // allowed: from the callback, after an await
          },
        },
      ],
    })
    await started // the callback is now paused at its await; training is paused too
    expectThrows(() => m.getWeights(), 'MODEL_BUSY', 'getWeights()')
    expectThrows(() => m.predictSync(x), 'MODEL_BUSY', 'predictSync()')
    await expectRejects(() => m.predict(x), 'MODEL_BUSY', 'predict()')
    release()
    await p
    expect(Object.keys(inside as object)).toContain('1.weight_ih')
  })

  it('fit called from inside a callback of a running fit', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(32)
    let nested: unknown
    const p = m.fit(x, y, {
      epochs: 1,
      verbose: 0,
      callbacks: [
        {
          async onEpochEnd() {
            try {
              await m.fit(x, y, { verbose: 0 })
              nested = 'resolved'
            } catch (e) {
              nested = e
            }
          },
        },
      ],
    })
    await p
    expect(nested).toBeInstanceOf(LstmError)
    expect((nested as LstmError).code).toBe('MODEL_BUSY')
    // …and the outer fit cleared the busy flag when it finished.
    expect(m.predictSync(x).shape).toEqual([32, 1])
  })
})

describe('ABORTED', () => {
  it('an AbortSignal aborting fit rejects with AbortError / ABORTED; the model stays usable', async () => {
    const m = tokenModel()
    const { done, controller } = slowFit(m)
    await sleep(80)
    controller.abort()
    const e = await expectRejects(() => done, 'ABORTED', /abort/i)
    expect(e.name).toBe('AbortError')
    expect(allFinite(m)).toBe(true)
    const { x, y } = toyTokens(8)
    const out = await m.predict(x)
    expect(out.shape).toEqual([8, 1])
    expect(out.data.every((v) => v > 0 && v < 1)).toBe(true)
    // …and it trains again.
    const h = await m.fit(x, y, { epochs: 1, verbose: 0 })
    expect(h.epoch).toEqual([0])
  })

  it('an already-aborted signal rejects at once, without training', async () => {
    const m = tokenModel()
    const before = m.getWeights()
    const { x, y } = toyTokens(8)
    const e = await expectRejects(() => m.fit(x, y, { verbose: 0, signal: AbortSignal.abort() }), 'ABORTED', /abort/i)
    expect(e.name).toBe('AbortError')
    const after = m.getWeights()
    for (const k of Object.keys(before)) expect(Array.from(after[k].data)).toEqual(Array.from(before[k].data))
  })
})

describe('after all of the above', () => {
  it('the process is alive and a fresh model trains and predicts', async () => {
    const m = tokenModel()
    const { x, y } = toyTokens(16)
    const h = await m.fit(x, y, { epochs: 1, verbose: 0 })
    expect(Number.isFinite(h.history.loss[0])).toBe(true)
    expect(m.predictSync(x).shape).toEqual([16, 1])
  })
})
