/**
 * Issue 17, class 6: what may be called while `fit` runs. A model is idle, training (a native call runs, or `fit`
 * awaits between its steps), or paused in one of fit's hooks. Every method is called in each state: idle, all
 * work; from a hook, all but `compile` and `fit` (MODEL_BUSY); from outside while training, none (MODEL_BUSY). A
 * failing observer callback (the progress bar kind) fails `fit` with its error instead of ending Node.
 */
import { AsyncResource } from 'node:async_hooks'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type Callback, LstmError, type Sequential } from '../src/index.js'
import { scratchDir, tokenModel, toyTokens } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('callbacks')
afterAll(cleanup)

const { x, y } = toyTokens(32, 4)

/** Every public method, called with valid arguments. */
const METHODS: [string, (m: Sequential) => unknown][] = [
  ['compile', (m) => m.compile({ loss: 'binaryCrossentropy' })],
  ['fit', (m) => m.fit(x, y, { verbose: 0 })],
  ['getLearningRate', (m) => m.getLearningRate()],
  ['setLearningRate', (m) => m.setLearningRate(0.01)],
  ['evaluate', (m) => m.evaluate(x, y)],
  ['predict', (m) => m.predict(x)],
  ['predictSync', (m) => m.predictSync(x)],
  ['predictOnBatch', (m) => m.predictOnBatch(x)],
  ['predictStep', (m) => m.predictStep([[1], [2]])],
  ['resetStates', (m) => m.resetStates()],
  ['trainOnBatch', (m) => m.trainOnBatch(x, y)],
  ['getWeights', (m) => m.getWeights()],
  ['setWeights', (m) => m.setWeights({})],
  ['summary', (m) => m.summary(() => {})],
  ['save', (m) => m.save(join(scratch, 'state.safetensors'))],
  ['saveWeights', (m) => m.saveWeights(join(scratch, 'state-weights.safetensors'))],
  ['loadWeights', (m) => m.loadWeights(join(scratch, 'weights.safetensors'))],
]

/** 'ok', or the code of the LstmError the call threw or rejected with. */
async function outcome(f: () => unknown): Promise<string> {
  try {
    await f()
    return 'ok'
  } catch (err) {
    return err instanceof LstmError ? err.code : `untyped ${String(err)}`
  }
}

describe('the state machine: idle, paused in a hook, training', () => {
  it('idle: every method works', async () => {
    const m = tokenModel()
    await m.saveWeights(join(scratch, 'weights.safetensors'))
    const got: Record<string, string> = {}
    for (const [name, f] of METHODS) got[name] = await outcome(() => f(m))
    expect(got).toEqual(Object.fromEntries(METHODS.map(([name]) => [name, 'ok'])))
  })

  for (const hook of ['onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'] as const) {
    it(`from ${hook}: all but compile and fit; from outside meanwhile: none`, async () => {
      const m = tokenModel()
      await m.saveWeights(join(scratch, 'weights.safetensors'))
      const inHook: Record<string, string> = {}
      const outside: Record<string, string> = {}
      let called = false
      // Bound here, outside fit: run from the hook, it still runs in this (the test's) async context, as a timer or
      // a request handler elsewhere in the program would while the hook is paused.
      const fromOutside = AsyncResource.bind(async () => {
        for (const [name, f] of METHODS) outside[name] = await outcome(() => f(m))
      })
      const cb: Callback = {
        [hook]: async () => {
          if (called) return
          called = true
          for (const [name, f] of METHODS) inHook[name] = await outcome(() => f(m))
          await fromOutside()
        },
      }
      const history = await m.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, callbacks: [cb] })
      expect(history.epoch).toEqual([0, 1])
      const expected = Object.fromEntries(METHODS.map(([name]) => [name, name === 'compile' || name === 'fit' ? 'MODEL_BUSY' : 'ok']))
      expect(inHook).toEqual(expected)
      expect(outside).toEqual(Object.fromEntries(METHODS.map(([name]) => [name, 'MODEL_BUSY'])))
    })
  }

  it('training (a native call running): every method is MODEL_BUSY, then all work again', async () => {
    const m = tokenModel()
    await m.saveWeights(join(scratch, 'weights.safetensors'))
    const running = m.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 })
    const during = Object.fromEntries(await Promise.all(METHODS.map(async ([name, f]) => [name, await outcome(() => f(m))] as const)))
    await running
    expect(during).toEqual(Object.fromEntries(METHODS.map(([name]) => [name, 'MODEL_BUSY'])))
    expect(await outcome(() => m.fit(x, y, { verbose: 0 }))).toBe('ok')
  })

  it('compile from a hook leaves the run on its loss and the model usable', async () => {
    const m = tokenModel()
    const before = m.getLearningRate()
    const err = await outcome(() => m.fit(x, y, { verbose: 0, epochs: 2, callbacks: [{ onEpochEnd: () => m.compile({ loss: 'mse', optimizer: 'sgd' }) }] }))
    expect(err).toBe('MODEL_BUSY')
    expect(m.getLearningRate()).toBeCloseTo(before)
    const h = await m.fit(x, y, { verbose: 0 })
    expect(Number.isFinite(h.history.loss[0])).toBe(true)
  })
})

describe('a failing observer fails fit with its error', () => {
  const observer = (onBatchEnd: () => unknown): Callback => ({ observesBatchesOnly: true, onBatchEnd: onBatchEnd as Callback['onBatchEnd'] })

  it.each<[string, () => unknown]>([
    ['an async onBatchEnd that rejects', async () => Promise.reject(new Error('observer rejected'))],
    ['an onBatchEnd that throws', () => {
      throw new Error('observer threw')
    }],
    ['an onBatchEnd that rejects later', () => new Promise((_, reject) => setTimeout(() => reject(new Error('observer rejected later')), 5))],
  ])('%s', async (_, onBatchEnd) => {
    const m = tokenModel()
    const failure = await m.fit(x, y, { epochs: 50, batchSize: 4, verbose: 0, callbacks: [observer(onBatchEnd)] }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(failure).toBeInstanceOf(Error)
    expect((failure as Error).message).toMatch(/^observer (rejected|threw)/)
    // Cleanly: the model is idle again and trains.
    const h = await m.fit(x, y, { verbose: 0 })
    expect(h.epoch).toEqual([0])
  })

  // The native loop's reports of the last batches can reach the JS thread after its promise resolved: fit must
  // wait for them, and for the promises they return, before it resolves. Node hands a threadsafe function at most
  // 1,000 queued calls per turn of the event loop, so holding the JS thread at the first batch of the last epoch
  // while the loop runs its 1,200 batches leaves the last reports queued behind the loop's completion.
  const many = toyTokens(1200, 4)
  const perEpoch = 1200
  const hold = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
  it.each<[string, () => unknown]>([
    ['rejects after the last batch of the last epoch', () => new Promise((_, reject) => setTimeout(() => reject(new Error('observer rejected at the end')), 20))],
    ['rejects at once at the last batch of the last epoch', async () => Promise.reject(new Error('observer rejected at the end'))],
    ['throws at the last batch of the last epoch', () => {
      throw new Error('observer threw at the end')
    }],
  ])('an observer that %s fails fit', async (_, fail) => {
    const m = tokenModel()
    const batches = 2 * perEpoch
    let calls = 0
    const onBatchEnd = () => {
      if (++calls === perEpoch + 1) hold()
      return calls === batches ? fail() : undefined
    }
    const failure = await m.fit(many.x, many.y, { epochs: 2, batchSize: 1, verbose: 0, callbacks: [observer(onBatchEnd)] }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(calls).toBe(batches)
    expect(failure).toBeInstanceOf(Error)
    expect((failure as Error).message).toMatch(/^observer (rejected|threw) at the end/)
    const h = await m.fit(x, y, { verbose: 0 })
    expect(h.epoch).toEqual([0])
  }, 30_000)

  it('an observer that succeeds sees every batch before fit resolves, and leaves fit alone', async () => {
    const m = tokenModel()
    const seen: number[] = []
    const done: number[] = []
    const onBatchEnd = async (batch: number) => {
      seen.push(batch)
      if (seen.length === perEpoch + 1) hold()
      await new Promise((resolve) => setTimeout(resolve, 2))
      done.push(batch)
    }
    const h = await m.fit(many.x, many.y, { epochs: 2, batchSize: 1, verbose: 0, callbacks: [observer(onBatchEnd as () => unknown)] })
    const each = Array.from({ length: perEpoch }, (_, i) => i)
    expect(seen).toEqual([...each, ...each])
    expect(done).toHaveLength(2 * perEpoch)
    expect(h.epoch).toEqual([0, 1])
  }, 30_000)
})
