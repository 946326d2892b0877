/**
 * Issue 17, class 9: initializer and optimizer options are checked before they become JSON, where NaN and Infinity
 * turn into null and the core would read "the default". Non-finite or out-of-range values, `minval > maxval`, a
 * missing required value and unknown keys are INVALID_CONFIG naming the option, for every layer option that takes an
 * initializer and for every optimizer.
 */
import { describe, expect, it } from 'vitest'
import { type Initializer, layers, Sequential } from '../src/index.js'
import { expectThrows, tokenModel } from './helpers.js'

const BAD_INITIALIZERS: [string, unknown, RegExp][] = [
  ['constant NaN', { type: 'constant', value: Number.NaN }, /value must be a finite float32 number, got NaN/],
  ['constant Infinity', { type: 'constant', value: Number.POSITIVE_INFINITY }, /value .* got Infinity/],
  ['constant beyond float32', { type: 'constant', value: 1e39 }, /value .* got 1e\+39/],
  ['constant without a value', { type: 'constant' }, /value is required/],
  ['constant value null', { type: 'constant', value: null }, /value .* got null/],
  ['constant value "1"', { type: 'constant', value: '1' }, /value .* got "1"/],
  ['randomNormal stddev Infinity', { type: 'randomNormal', stddev: Number.POSITIVE_INFINITY }, /stddev .* got Infinity/],
  ['randomNormal stddev -1', { type: 'randomNormal', stddev: -1 }, /stddev must be ≥ 0, got -1/],
  ['randomNormal mean NaN', { type: 'random_normal', mean: Number.NaN }, /mean .* got NaN/],
  ['randomUniform minval > maxval', { type: 'randomUniform', minval: 1, maxval: -1 }, /minval 1 must not exceed maxval -1/],
  ['randomUniform minval above the default maxval', { type: 'randomUniform', minval: 0.5 }, /minval 0.5 must not exceed maxval 0.05/],
  ['randomUniform maxval -Infinity', { type: 'randomUniform', maxval: Number.NEGATIVE_INFINITY }, /maxval .* got -Infinity/],
  ['orthogonal gain NaN', { type: 'orthogonal', gain: Number.NaN }, /gain .* got NaN/],
  ['an unknown key', { type: 'randomNormal', stdev: 2 }, /unknown option "stdev"; expected one of mean, stddev/],
  ['a key of another initializer', { type: 'orthogonal', value: 2 }, /unknown option "value"; expected one of gain/],
  ['a key on a parameterless initializer', { type: 'zeros', value: 1 }, /unknown option "value"; expected none/],
]

const USES: [string, (init: unknown) => unknown][] = [
  ['embedding embeddingsInitializer', (i) => layers.embedding({ inputDim: 3, outputDim: 2, embeddingsInitializer: i as Initializer })],
  ['lstm kernelInitializer', (i) => layers.lstm({ units: 2, kernelInitializer: i as Initializer })],
  ['lstm recurrentInitializer', (i) => layers.lstm({ units: 2, recurrentInitializer: i as Initializer })],
  ['gru biasInitializer', (i) => layers.gru({ units: 2, biasInitializer: i as Initializer })],
  ['simpleRnn kernelInitializer', (i) => layers.simpleRnn({ units: 2, kernelInitializer: i as Initializer })],
  ['dense kernelInitializer', (i) => layers.dense({ units: 2, kernelInitializer: i as Initializer })],
  ['dense biasInitializer', (i) => layers.dense({ units: 2, biasInitializer: i as Initializer })],
  ['conv1d kernelInitializer', (i) => layers.conv1d({ filters: 2, kernelSize: 2, kernelInitializer: i as Initializer })],
  ['a hand-written dense description', (i) => new Sequential([{ type: 'dense', units: 2, inputShape: [2], kernelInitializer: i as Initializer }])],
]

describe('initializer options', () => {
  for (const [use, make] of USES) {
    it.each(BAD_INITIALIZERS)(`${use}: %s`, (_, init, message) => {
      expectThrows(() => make(init), 'INVALID_CONFIG', message)
    })
  }

  it('valid parameters are kept, not replaced by defaults', () => {
    const m = new Sequential([layers.dense({ units: 3, inputShape: [2], kernelInitializer: { type: 'constant', value: 0.25 }, biasInitializer: { type: 'randomUniform', minval: 2, maxval: 2 } })], { numThreads: 1 })
    const w = m.getWeights()
    expect(Array.from(w['0.weight'].data)).toEqual(new Array(6).fill(0.25))
    expect(Array.from(w['0.bias'].data)).toEqual([2, 2, 2])
  })
})

describe('optimizer options', () => {
  it.each<[string, unknown, RegExp]>([
    ['adam lr (a misspelt key)', { type: 'adam', lr: 0.5 }, /unknown adam option "lr"; expected one of learningRate/],
    ['sgd beta1 (a key of another optimizer)', { type: 'sgd', beta1: 0.5 }, /unknown sgd option "beta1"/],
    ['rmsprop nesterov', { type: 'rmsprop', nesterov: true }, /unknown rmsprop option "nesterov"/],
    ['adam learningRate NaN', { type: 'adam', learningRate: Number.NaN }, /learningRate must be a finite number, got NaN/],
    ['adam learningRate null', { type: 'adam', learningRate: null }, /learningRate must be a finite number, got null/],
    ['sgd momentum "0.9"', { type: 'sgd', momentum: '0.9' }, /momentum must be a finite number, got "0.9"/],
    ['sgd nesterov 1', { type: 'sgd', nesterov: 1 }, /nesterov must be true or false/],
    ['an unknown type', { type: 'adagrad' }, /unknown optimizer "adagrad"/],
    ['no type', { learningRate: 0.1 }, /unknown optimizer undefined/],
  ])('%s', (_, optimizer, message) => {
    expectThrows(() => tokenModel({ compile: false }).compile({ loss: 'mse', optimizer: optimizer as never }), 'INVALID_CONFIG', message)
  })

  it('valid options reach the optimizer', () => {
    const m = tokenModel({ compile: false })
    m.compile({ loss: 'mse', optimizer: { type: 'adam', learningRate: 0.5, beta1: 0.8, clipnorm: 1 } })
    expect(m.getLearningRate()).toBeCloseTo(0.5)
  })
})
