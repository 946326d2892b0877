/**
 * Issue 17, class 2: every argument of an async method is read (and its data copied) when the call is made. Each
 * row runs a call twice on identical models: once leaving the arguments alone, once spoiling them (NaN in the data,
 * a throwing callback in the list, other options) right after the call returns its promise. Both must give the same
 * result: a later read would change the validation results or make a valid call fail.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type Callback, type FitOptions, layers, Sequential, type Tensor, tensor } from '../src/index.js'
import { scratchDir, toyFloats } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('capture')
afterAll(cleanup)

function model(): Sequential {
  const m = new Sequential([layers.lstm({ units: 4, inputShape: [null, 3] }), layers.dense({ units: 1 })], { seed: 3, numThreads: 1 })
  m.compile({ loss: 'mse', optimizer: 'adam' })
  return m
}

/** Fresh copies of the toy data, so one run's spoiling cannot reach the other's. */
function data(n = 24): { x: Tensor; y: Tensor; xv: Tensor; yv: Tensor } {
  const { x, y } = toyFloats(n, 4, 3, 9)
  const v = toyFloats(8, 4, 3, 10)
  const copy = (t: Tensor) => tensor(t.data.slice(), t.shape)
  return { x: copy(x), y: copy(y), xv: copy(v.x), yv: copy(v.y) }
}

function spoil(t: Tensor): void {
  t.data.fill(Number.NaN)
}

type Row = [string, (m: Sequential, d: ReturnType<typeof data>, after: (f: () => void) => void) => Promise<unknown>]

/** `after(f)`: f runs right after the call has returned its promise (only in the spoiling run). */
const rows: Row[] = [
  [
    'fit: validationData x and y',
    async (m, d, after) => {
      const p = m.fit(d.x, d.y, { epochs: 2, batchSize: 8, verbose: 0, validationData: [d.xv, d.yv] })
      after(() => (spoil(d.xv), spoil(d.yv)))
      return (await p).history
    },
  ],
  [
    'fit: validationData as nested arrays',
    async (m, d, after) => {
      const xv = Array.from({ length: 8 }, (_, i) => Array.from({ length: 4 }, (_, t) => Array.from(d.xv.data.subarray((i * 4 + t) * 3, (i * 4 + t) * 3 + 3))))
      const yv = Array.from(d.yv.data, (v) => [v])
      const p = m.fit(d.x, d.y, { epochs: 2, batchSize: 8, verbose: 0, validationData: [xv, yv] })
      after(() => {
        xv[0][0][0] = Number.NaN
        yv.length = 3
      })
      return (await p).history
    },
  ],
  [
    'fit: the rows validationSplit holds out, and the training rows',
    async (m, d, after) => {
      const p = m.fit(d.x, d.y, { epochs: 2, batchSize: 8, verbose: 0, validationSplit: 0.25 })
      after(() => (spoil(d.x), spoil(d.y)))
      return (await p).history
    },
  ],
  [
    'fit: the options object and its callback list',
    async (m, d, after) => {
      const seen: number[] = []
      const options: FitOptions = { epochs: 2, batchSize: 8, verbose: 0, shuffle: false, callbacks: [{ onEpochEnd: (e) => void seen.push(e) }] }
      const p = m.fit(d.x, d.y, options)
      after(() => {
        options.epochs = 5
        options.batchSize = 1
        options.callbacks!.push({ onEpochEnd: () => Promise.reject(new Error('a callback added after the call ran')) } satisfies Callback)
        options.callbacks![0] = {}
      })
      return { history: (await p).history, seen }
    },
  ],
  [
    'evaluate: x and y',
    async (m, d, after) => {
      const p = m.evaluate(d.xv, d.yv, { batchSize: 4 })
      after(() => (spoil(d.xv), spoil(d.yv)))
      return p
    },
  ],
  [
    'trainOnBatch: x and y',
    async (m, d, after) => {
      const p = m.trainOnBatch(d.xv, d.yv)
      after(() => (spoil(d.xv), spoil(d.yv)))
      return [await p, Array.from(m.getWeights()['1.weight'].data)]
    },
  ],
  [
    'predict and predictOnBatch: x',
    async (m, d, after) => {
      const p = m.predict(d.xv, { batchSize: 3 })
      const q = m.predictOnBatch(d.x)
      after(() => (spoil(d.xv), spoil(d.x)))
      return [Array.from((await p).data), Array.from((await q).data)]
    },
  ],
  [
    'save: metadata',
    async (m, _d, after) => {
      const path = join(scratch, `metadata-${Math.random().toString(36).slice(2)}.safetensors`)
      m.metadata = { words: ['a', 'b'] }
      const p = m.save(path)
      after(() => {
        m.metadata.words = ['changed']
        m.metadata.extra = 1
      })
      await p
      return (await Sequential.load(path, { numThreads: 1 })).metadata
    },
  ],
]

describe('arguments are captured when the call is made', () => {
  it.each(rows)('%s', async (_, run) => {
    const plain = await run(model(), data(), () => {})
    const spoiled = await run(model(), data(), (f) => f())
    expect(spoiled).toEqual(plain)
    expect(JSON.stringify(plain)).not.toMatch(/null|NaN/)
  })

})
