/**
 * GRU, SimpleRNN, Conv1D and MaxPooling1D through the Node API: config validation with typed errors, summary,
 * PyTorch weight names, fit/predict, getWeights/setWeights, save/load round trips and stateful stepping.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { layers, type LayerSpec, Sequential, tensor } from '../src/index.js'
import { expectThrows, scratchDir, toyFloats, toyTokens, weightsAsArrays } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('rnn-layers')
afterAll(cleanup)

describe('config validation', () => {
  it('rejects bad options with INVALID_CONFIG naming the option', () => {
    expectThrows(() => layers.gru({ units: 0 }), 'INVALID_CONFIG', /gru: units/)
    expectThrows(() => layers.gru({ units: 2, recurrentDropout: 1 }), 'INVALID_CONFIG', /recurrentDropout/)
    expectThrows(() => layers.gru({ units: 2, resetAfter: false } as never), 'INVALID_CONFIG', /unknown option "resetAfter"/)
    expectThrows(() => layers.gru({ units: 2, inputShape: [4] as never }), 'INVALID_CONFIG', /inputShape/)
    expectThrows(() => layers.simpleRnn({ units: 2, activation: 'softmax' as never }), 'INVALID_CONFIG', /simpleRnn: activation/)
    expectThrows(() => layers.simpleRnn({ units: 2, dropout: -0.5 }), 'INVALID_CONFIG', /dropout/)
    expectThrows(() => layers.conv1d({ filters: 0, kernelSize: 3 }), 'INVALID_CONFIG', /conv1d: filters/)
    expectThrows(() => layers.conv1d({ filters: 2, kernelSize: 1.5 }), 'INVALID_CONFIG', /kernelSize/)
    expectThrows(() => layers.conv1d({ filters: 2, kernelSize: 3, padding: 'full' as never }), 'INVALID_CONFIG', /padding/)
    expectThrows(() => layers.conv1d({ filters: 2, kernelSize: 3, strides: 2, dilationRate: 2 }), 'INVALID_CONFIG', /dilationRate/)
    expectThrows(() => layers.conv1d({ filters: 2, kernelSize: 3, activation: 'gelu' as never }), 'INVALID_CONFIG', /activation/)
    expectThrows(() => layers.maxPooling1d({ poolSize: 0 }), 'INVALID_CONFIG', /maxPooling1d: poolSize/)
    expectThrows(() => layers.maxPooling1d({ padding: 'causal' as never }), 'INVALID_CONFIG', /padding/)
  })

  it('a window longer than the input is INVALID_ARGUMENT at predict time', async () => {
    const m = new Sequential([layers.conv1d({ filters: 2, kernelSize: 5, inputShape: [null, 3] })], { numThreads: 1 })
    const { x } = toyFloats(2, 4, 3)
    expectThrows(() => m.predictSync(x), 'INVALID_ARGUMENT', /fewer than the window/)
  })
})

/** Each new layer in a small model on the toy tasks: [name, layers, float input?]. */
const MODELS: [string, () => LayerSpec[], boolean][] = [
  ['gru', () => [layers.embedding({ inputDim: 10, outputDim: 4, maskZero: true }), layers.gru({ units: 5, dropout: 0.1, recurrentDropout: 0.1 }), layers.dense({ units: 1, activation: 'sigmoid' })], false],
  ['bidirectional gru', () => [layers.gru({ units: 3, bidirectional: true, returnSequences: true, inputShape: [null, 3] }), layers.globalAveragePooling1d(), layers.dense({ units: 1 })], true],
  ['simpleRnn', () => [layers.simpleRnn({ units: 4, activation: 'relu', returnSequences: true, inputShape: [4, 3] }), layers.simpleRnn({ units: 3 }), layers.dense({ units: 1 })], true],
  [
    'conv1d + maxPooling1d + lstm',
    () => [layers.embedding({ inputDim: 10, outputDim: 4 }), layers.conv1d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }), layers.maxPooling1d({ poolSize: 2 }), layers.lstm({ units: 4 }), layers.dense({ units: 1, activation: 'sigmoid' })],
    false,
  ],
  ['conv1d causal + global max', () => [layers.conv1d({ filters: 3, kernelSize: 2, padding: 'causal', dilationRate: 2, inputShape: [null, 3] }), layers.globalMaxPooling1d(), layers.dense({ units: 1 })], true],
]

describe.each(MODELS)('%s', (_name, make, floats) => {
  const data = () => (floats ? toyFloats(32, 6, 3) : toyTokens(32, 6, 10))
  const build = () => {
    const m = new Sequential(make(), { seed: 5, numThreads: 1 })
    m.compile({ loss: floats ? 'mse' : 'binaryCrossentropy', optimizer: { type: 'adam', learningRate: 0.01 } })
    return m
  }

  it('fits (the loss falls), predicts, and survives save/load and setWeights', async () => {
    const m = build()
    const { x, y } = data()
    const h = await m.fit(x, y, { epochs: 8, batchSize: 8, verbose: 0, shuffle: false })
    expect(h.history.loss.at(-1)!).toBeLessThan(h.history.loss[0])
    const p = m.predictSync(x)
    expect(p.shape).toEqual([32, 1])
    expect(Array.from(p.data).every(Number.isFinite)).toBe(true)
    const lines: string[] = []
    const table = m.summary((l) => lines.push(l))
    expect(table).toMatch(/Total params/)
    const path = join(scratch, `${_name.replace(/\W+/g, '-')}.safetensors`)
    await m.save(path)
    const loaded = await Sequential.load(path, { numThreads: 1 })
    expect(loaded.layers.map((l) => l.type)).toEqual(m.layers.map((l) => l.type))
    expect(weightsAsArrays(loaded)).toEqual(weightsAsArrays(m))
    expect(Array.from((await loaded.predict(x)).data)).toEqual(Array.from(p.data))
    const fresh = build()
    fresh.setWeights(m.getWeights())
    expect(Array.from(fresh.predictSync(x).data)).toEqual(Array.from(p.data))
  })
})

describe('names, summary and stepping', () => {
  it("uses PyTorch's names and shapes", () => {
    const m = new Sequential(
      [layers.embedding({ inputDim: 10, outputDim: 4 }), layers.conv1d({ filters: 6, kernelSize: 3 }), layers.maxPooling1d(), layers.gru({ units: 5, bidirectional: true })],
      { numThreads: 1 },
    )
    const shapes = Object.fromEntries(Object.entries(m.getWeights()).map(([k, t]) => [k, [...t.shape]]))
    expect(shapes).toEqual({
      '0.weight': [10, 4],
      '1.weight': [6, 4, 3],
      '1.bias': [6],
      '3.weight_ih': [15, 6],
      '3.weight_hh': [15, 5],
      '3.bias_ih': [15],
      '3.bias_hh': [15],
      '3.weight_ih_reverse': [15, 6],
      '3.weight_hh_reverse': [15, 5],
      '3.bias_ih_reverse': [15],
      '3.bias_hh_reverse': [15],
    })
    const table = m.summary(() => {})
    expect(table).toMatch(/Conv1D/)
    expect(table).toMatch(/MaxPooling1D/)
    expect(table).toMatch(/GRU, bidirectional/)
    expect(table).toMatch(/\(None, 10\)/)
  })

  it('predictStep through a GRU and a SimpleRNN matches predict on the whole sequence', () => {
    for (const rnn of [layers.gru({ units: 4 }), layers.simpleRnn({ units: 4 })]) {
      const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 3 }), rnn, layers.dense({ units: 2 })], { seed: 2, numThreads: 1 })
      const ids = [3, 1, 4, 1, 5, 9]
      const whole = m.predictSync(tensor(new Int32Array(ids), [1, 6]))
      let last = whole
      for (const id of ids) last = m.predictStep(tensor(new Int32Array([id]), [1, 1]))
      Array.from(last.data).forEach((v, k) => expect(v).toBeCloseTo(whole.data[k], 5))
    }
  })
})
