/**
 * Serving: models share the process's compute threads (a thousand models do not make a thousand pools), predictions
 * on one model run side by side and do not queue behind each other, what fit, compile, setWeights and loadWeights
 * do while predictions are in flight, and batching: coalesced rows equal separate calls' results, and one caller's
 * bad data fails only that caller.
 */
import { execFile } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { layers, Sequential, type Tensor, tensor } from '../src/index.js'
import { DIST_ESM_URL, ensureDist } from './fixtures/dist.js'
import { expectRejects, expectThrows, scratchDir, toyTokens } from './helpers.js'

const { dir, cleanup } = scratchDir('serving')
afterAll(cleanup)

/** A model slow enough that a large prediction takes a while: the tests order calls around it. */
function bigModel(seed = 3, options: { numThreads?: number; dedicatedPool?: boolean } = {}): Sequential {
  const m = new Sequential([layers.embedding({ inputDim: 1000, outputDim: 32 }), layers.lstm({ units: 128 }), layers.dense({ units: 16, activation: 'relu' }), layers.dense({ units: 1, activation: 'sigmoid' })], {
    seed,
    ...options,
  })
  m.compile({ loss: 'binaryCrossentropy', optimizer: 'adam' })
  return m
}

/** `n` rows of `t` token ids in [1, vocab), seeded. */
function tokens(n: number, t: number, seed: number, vocab = 1000): Tensor {
  let s = seed
  const data = new Int32Array(n * t).map(() => {
    s = (s * 1103515245 + 12345) % 2 ** 31
    return 1 + (s % (vocab - 1))
  })
  return tensor(data, [n, t])
}

/** Records the order in which promises settle. */
function recorder() {
  const order: string[] = []
  const track = <T>(name: string, p: Promise<T>): Promise<T> =>
    p.then(
      (v) => (order.push(name), v),
      (e) => {
        order.push(name)
        throw e
      },
    )
  return { order, track }
}

describe('threads', () => {
  beforeAll(async () => {
    await ensureDist()
  }, 150_000)

  it.runIf(process.platform === 'linux')(
    'a thousand live models add a thread per core and two job threads, and dedicatedPool starts a pool per model',
    async () => {
      // In a fresh process, so that only this test's models count.
      const script = `
        import { readFileSync } from 'node:fs'
        const { Sequential, layers, tensor } = await import(${JSON.stringify(DIST_ESM_URL)})
        const threads = () => Number(/Threads:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1])
        const before = threads()
        const models = []
        for (let i = 0; i < 1000; i++) models.push(new Sequential([layers.embedding({ inputDim: 20, outputDim: 4 }), layers.lstm({ units: 4 }), layers.dense({ units: 1 })], { seed: i }))
        const x = tensor(new Int32Array([1, 2, 3]), [1, 3])
        await Promise.all(models.map((m) => m.predict(x)))
        const predicting = threads()
        const fitting = models.slice(0, 6)
        fitting.forEach((m) => m.compile({ loss: 'mse', optimizer: 'sgd' }))
        await Promise.all(fitting.map((m) => m.fit(tensor(new Int32Array(48).fill(1), [16, 3]), tensor(new Float32Array(16), [16, 1]), { epochs: 2, batchSize: 4, verbose: 0 })))
        const shared = threads()
        const own = [1, 2, 3].map((i) => new Sequential([layers.dense({ units: 2, inputShape: [3] })], { seed: i, numThreads: 2, dedicatedPool: true }))
        await Promise.all(own.map((m) => m.predict([[1, 2, 3]])))
        console.log(JSON.stringify({ before, predicting, shared, dedicated: threads(), models: models.length + own.length }))
      `
      const out = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
      )
      const r = JSON.parse(out.trim().split('\n').pop()!) as { before: number; predicting: number; shared: number; dedicated: number }
      const cores = availableParallelism()
      // Predictions on free models run on the shared compute pool (one thread per core) and start no other thread;
      // training adds the job lane's threads, a fixed number whatever the core count.
      expect(r.predicting - r.before).toBeLessThanOrEqual(cores)
      expect(r.shared - r.before).toBeLessThanOrEqual(cores + 2)
      expect(r.dedicated - r.shared).toBeGreaterThanOrEqual(6)
    },
    150_000,
  )

  it('dedicatedPool must be a boolean', () => {
    expectThrows(() => new Sequential([layers.dense({ units: 1, inputShape: [2] })], { dedicatedPool: 'yes' as unknown as boolean }), 'INVALID_CONFIG', /dedicatedPool must be true or false/)
  })

  it('training gives the same weights on the shared pool, capped at one thread, and on a dedicated pool', async () => {
    const { x, y } = toyTokens(64, 6, 1000, 5)
    const weights: Float32Array[][] = []
    for (const options of [{}, { numThreads: 1 }, { numThreads: 2, dedicatedPool: true }]) {
      const m = bigModel(11, options)
      await m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 })
      weights.push(Object.values(m.getWeights()).map((t) => t.data as Float32Array))
    }
    expect(weights[1]).toEqual(weights[0])
    expect(weights[2]).toEqual(weights[0])
  }, 120_000)
})

describe('concurrent predictions on one model', () => {
  const long = tokens(1500, 200, 1)
  const short = tokens(1, 200, 2)

  it('a small prediction does not wait behind a large one on the same model', async () => {
    const m = bigModel()
    const { order, track } = recorder()
    const big = track('large', m.predict(long))
    const small = track('small', m.predict(short))
    await Promise.all([big, small])
    expect(order).toEqual(['small', 'large'])
  }, 60_000)

  it('a prediction is in flight from the call: compile right after predict is MODEL_BUSY every time', async () => {
    // Before a job thread takes the model, the call has already made its promise: changing the model then would
    // change what that prediction reads.
    const m = bigModel(6)
    const before = await m.predict(short)
    for (let i = 0; i < 200; i++) {
      const p = m.predict(short)
      expectThrows(() => m.compile({ loss: 'binaryCrossentropy', optimizer: 'sgd' }), 'MODEL_BUSY', /predictions in flight/)
      expectThrows(() => m.setWeights(m.getWeights()), 'MODEL_BUSY', /predictions in flight/)
      expect((await p).data).toEqual(before.data)
    }
  }, 60_000)

  it('while predictions are in flight: compile and setWeights are MODEL_BUSY, loadWeights and fit wait for them', async () => {
    const m = bigModel(3)
    const other = bigModel(4)
    const otherFile = join(dir, 'other.safetensors')
    await other.save(otherFile)
    const before = await m.predict(long)

    const { order, track } = recorder()
    const inFlight = track('predict', m.predict(long))
    expectThrows(() => m.compile({ loss: 'binaryCrossentropy', optimizer: 'sgd' }), 'MODEL_BUSY', /predictions in flight/)
    expectThrows(() => m.setWeights(m.getWeights()), 'MODEL_BUSY', /predictions in flight/)
    const loaded = track('loadWeights', m.loadWeights(otherFile))
    // The prediction began on the old weights and finishes on them.
    expect((await inFlight).data).toEqual(before.data)
    await loaded
    expect(order).toEqual(['predict', 'loadWeights'])
    expect((await m.predict(short)).data).toEqual((await other.predict(short)).data)

    const { x, y } = toyTokens(32, 6, 1000, 5)
    const second = track('predict2', m.predict(long))
    const fitted = track('fit', m.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 }))
    // Once fit has begun, new predictions are refused until it ends.
    await expectRejects(() => m.predict(short), 'MODEL_BUSY', /training/)
    await Promise.all([second, fitted])
    expect(order.slice(2)).toEqual(['predict2', 'fit'])
  }, 120_000)
})

describe('enableBatching', () => {
  /** Counts the native batches a model runs, and their sizes. */
  function spyBatches(m: Sequential): number[] {
    const sizes: number[] = []
    const nm = (m as unknown as { nativeModel: { predict: (x: unknown, shape: number[], b: number) => Promise<unknown> } }).nativeModel
    const original = nm.predict.bind(nm)
    nm.predict = (x, shape, b) => {
      sizes.push(shape[0])
      return original(x, shape, b)
    }
    return sizes
  }

  it('coalesces concurrent calls of one length into batches, each row equal to a separate call within 1e-6', async () => {
    const m = bigModel(5)
    const rows = Array.from({ length: 40 }, (_, i) => tokens(1, 12, 100 + i))
    const others = Array.from({ length: 5 }, (_, i) => tokens(1, 7, 200 + i))
    const alone = await Promise.all([...rows, ...others].map((x) => m.predict(x)))

    m.enableBatching({ maxBatchSize: 16, maxDelayMs: 50 })
    expect(m.batching).toEqual({ maxBatchSize: 16, maxDelayMs: 50 })
    const sizes = spyBatches(m)
    const batched = await Promise.all([...rows, ...others].map((x) => m.predict(x)))
    expect(sizes.sort((a, b) => a - b)).toEqual([5, 8, 16, 16])
    let bitwise = 0
    batched.forEach((t, i) => {
      expect(t.shape).toEqual([1, 1])
      expect(Math.abs(t.data[0] - alone[i].data[0])).toBeLessThanOrEqual(1e-6)
      if (t.data[0] === alone[i].data[0]) bitwise++
    })
    console.log(`[batching] ${bitwise} of ${batched.length} coalesced rows bitwise equal to separate calls`)
  }, 60_000)

  /** Holds the model's native batches until `open()`: the test decides when the running batch ends. */
  function gateBatches(m: Sequential): { sizes: number[]; open: () => void } {
    const sizes: number[] = []
    let open!: () => void
    const gate = new Promise<void>((r) => (open = r))
    const nm = (m as unknown as { nativeModel: { predict: (x: unknown, shape: number[], b: number) => Promise<unknown> } }).nativeModel
    const original = nm.predict.bind(nm)
    nm.predict = (x, shape, b) => {
      sizes.push(shape[0])
      return gate.then(() => original(x, shape, b))
    }
    return { sizes, open }
  }
  const nextTurn = () => new Promise<void>((r) => setImmediate(r))

  it('maxDelayMs (2 by default) makes a call on a free model wait for company from later turns', async () => {
    const m = bigModel(8)
    m.enableBatching()
    expect(m.batching).toEqual({ maxBatchSize: 32, maxDelayMs: 2 })
    m.enableBatching({ maxDelayMs: 200 })
    const { sizes, open } = gateBatches(m)
    const first = m.predict(tokens(1, 10, 400))
    await nextTurn()
    expect(sizes).toEqual([])
    const second = m.predict(tokens(1, 10, 401))
    await new Promise((r) => setTimeout(r, 400))
    expect(sizes).toEqual([2])
    open()
    await Promise.all([first, second])
  }, 60_000)

  it('a compile refused for its options leaves the waiting calls waiting; a valid one starts them', async () => {
    const m = bigModel(8)
    m.enableBatching({ maxDelayMs: 200 })
    const { sizes, open } = gateBatches(m)
    const first = m.predict(tokens(1, 10, 400))
    expectThrows(() => m.compile({} as never), 'INVALID_CONFIG', /loss is required/)
    expectThrows(() => m.compile({ loss: 'mse', metrics: ['f1'] } as never), 'INVALID_CONFIG', /unknown metric/)
    await nextTurn()
    expect(sizes).toEqual([])
    // The gate holds the batch before the binding, so the binding sees no prediction in flight and compile passes.
    m.compile({ loss: 'mse' })
    expect(sizes).toEqual([1])
    open()
    await first
  }, 60_000)

  it('with maxDelayMs 0, a call on a free model runs at once; the calls made while a batch runs become the next batch when it ends', async () => {
    const m = bigModel(8)
    const xs = Array.from({ length: 6 }, (_, i) => tokens(1, 10, 400 + i))
    const alone = await Promise.all(xs.map((x) => m.predict(x)))
    m.enableBatching({ maxDelayMs: 0 })
    expect(m.batching).toEqual({ maxBatchSize: 32, maxDelayMs: 0 })
    const { sizes, open } = gateBatches(m)
    const first = m.predict(xs[0])
    await nextTurn()
    // Started alone, without waiting for company.
    expect(sizes).toEqual([1])
    // Five calls in five later turns, while the first batch runs: none starts a batch of its own.
    const rest: Promise<Tensor>[] = []
    for (const x of xs.slice(1)) {
      rest.push(m.predict(x))
      await nextTurn()
      await new Promise((r) => setTimeout(r, 5))
    }
    expect(sizes).toEqual([1])
    open()
    const out = await Promise.all([first, ...rest])
    expect(sizes).toEqual([1, 5])
    out.forEach((t, i) => expect(Math.abs(t.data[0] - alone[i].data[0])).toBeLessThanOrEqual(1e-6))
    // Each caller's rows are a view of the batch's output, not a copy, and only its own.
    expect(out.slice(2).every((t) => t.data.buffer === out[1].data.buffer && t.data.length === 1)).toBe(true)
  }, 60_000)

  it('with wide outputs, each caller gets a copy of its rows, so that no caller keeps the whole batch alive', async () => {
    const m = new Sequential([layers.embedding({ inputDim: 50, outputDim: 4 }), layers.lstm({ units: 8 }), layers.dense({ units: 20_000, activation: 'softmax' })], { seed: 5 })
    const xs = Array.from({ length: 4 }, (_, i) => tokens(1, 5, 600 + i, 50).data)
    const alone = await Promise.all(xs.map((x) => m.predict(tensor(x, [1, 5]))))
    m.enableBatching({ maxDelayMs: 200 })
    const { sizes, open } = gateBatches(m)
    const calls = xs.map((x) => m.predict(tensor(x, [1, 5])))
    await new Promise((r) => setTimeout(r, 300))
    open()
    const out = await Promise.all(calls)
    expect(sizes).toEqual([4])
    // 3 other rows of 80 KB each: a view would keep 320 KB alive for a caller's 80 KB.
    for (const [i, t] of out.entries()) {
      expect(t.data.buffer.byteLength).toBe(20_000 * 4)
      expect(t.data).toEqual(alone[i].data)
    }
  }, 60_000)

  it('a batch holds at most maxBatchSize samples; the rest wait for the next', async () => {
    const m = bigModel(9)
    m.enableBatching({ maxBatchSize: 4 })
    const { sizes, open } = gateBatches(m)
    const calls = Array.from({ length: 11 }, (_, i) => m.predict(tokens(1, 6, 500 + i)))
    await nextTurn()
    expect(sizes).toEqual([4])
    open()
    await Promise.all(calls)
    expect(sizes).toEqual([4, 4, 3])
  }, 60_000)

  it('calls waiting for a batch count as in flight: compile and setWeights are MODEL_BUSY, loadWeights lets them finish first', async () => {
    const m = bigModel(10)
    const x = tokens(1, 8, 600)
    const before = (await m.predict(x)).data[0]
    const file = join(dir, 'other-weights.safetensors')
    await bigModel(11).save(file)
    const after = (await (await Sequential.load(file)).predict(x)).data[0]
    expect(after).not.toBe(before)
    m.enableBatching({ maxDelayMs: 60_000 })
    const waiting = m.predict(x)
    expectThrows(() => m.setWeights(m.getWeights()), 'MODEL_BUSY', /setWeights|predict/)
    expect((await waiting).data[0]).toBe(before)
    const waiting2 = m.predict(x)
    expectThrows(() => m.compile({ loss: 'binaryCrossentropy', optimizer: 'sgd' }), 'MODEL_BUSY', /./)
    const loaded = m.loadWeights(file)
    expect((await waiting2).data[0]).toBe(before)
    await loaded
    m.disableBatching()
    expect((await m.predict(x)).data[0]).toBe(after)
  }, 60_000)

  it("one caller's bad ids fail that caller only", async () => {
    const m = bigModel(6)
    const good = Array.from({ length: 6 }, (_, i) => tokens(1, 9, 300 + i))
    const alone = await Promise.all(good.map((x) => m.predict(x)))
    m.enableBatching({ maxBatchSize: 32, maxDelayMs: 20 })
    const bad = tensor(new Int32Array([1, 2, 3, 4, 5000, 6, 7, 8, 9]), [1, 9])
    const results = await Promise.allSettled([...good.slice(0, 3), bad, ...good.slice(3)].map((x) => m.predict(x)))
    const failed = results[3]
    expect(failed.status).toBe('rejected')
    expect((failed as PromiseRejectedResult).reason.code).toBe('INDEX_OUT_OF_RANGE')
    const ok = results.filter((_, i) => i !== 3).map((r) => (r as PromiseFulfilledResult<Tensor>).value.data[0])
    expect(ok.map((v, i) => Math.abs(v - alone[i].data[0]) <= 1e-6)).toEqual(good.map(() => true))
  }, 60_000)

  it('checks its options, and disableBatching runs the waiting calls', async () => {
    const m = bigModel(7)
    expectThrows(() => m.enableBatching({ maxBatchSize: 0 }), 'INVALID_ARGUMENT', /maxBatchSize/)
    expectThrows(() => m.enableBatching({ maxDelayMs: -1 }), 'INVALID_ARGUMENT', /maxDelayMs/)
    m.enableBatching({ maxBatchSize: 8, maxDelayMs: 60_000 })
    const p = m.predict(tokens(1, 5, 9))
    m.disableBatching()
    expect(m.batching).toBeUndefined()
    expect((await p).shape).toEqual([1, 1])
  }, 30_000)
})
