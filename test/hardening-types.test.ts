/**
 * Issue 17, class 4: every wrong-typed argument of every public function gets an `LstmError` with a code, never a
 * bare `TypeError`, `RangeError` or `INTERNAL`. The rule for `null` (docs/api.md, Errors): a whole options argument of
 * `null` means "no options", as `undefined` does; inside an options object `null` is refused unless the option's type
 * lists it, so it is never silently a default.
 */
import { describe, expect, it } from 'vitest'
import { callbacks, generate, layers, LstmError, padSequences, Sequential, type Tensor, tensor, text, Tokenizer } from '../src/index.js'
import { failure, tokenModel, toyTokens } from './helpers.js'

const { x, y } = toyTokens(4, 3)
const model = tokenModel()
const any = (v: unknown) => v as never

type Row = [string, () => unknown, string, RegExp?]

const floatDuck = (data: unknown, shape: unknown = [4, 3], dtype: unknown = 'float32') => ({ data, shape, dtype }) as unknown as Tensor

const circular: Record<string, unknown> = {}
circular.self = circular
let deep: unknown = [1]
for (let i = 0; i < 3000; i++) deep = [deep]

const REFUSED: Row[] = [
  // Sequential: the constructor and compile (config errors)
  ['new Sequential(null)', () => new Sequential(any(null)), 'INVALID_CONFIG', /non-empty array of layers/],
  ['new Sequential([null])', () => new Sequential(any([null])), 'INVALID_CONFIG', /layer 0 .* got null/],
  ['new Sequential(layers, 5)', () => new Sequential([layers.dense({ units: 1, inputShape: [2] })], any(5)), 'INVALID_CONFIG', /options must be an object, got 5/],
  ['new Sequential(layers, { name: 5 })', () => new Sequential([layers.dense({ units: 1, inputShape: [2] })], any({ name: 5 })), 'INVALID_CONFIG', /name must be a string/],
  ['compile(null)', () => tokenModel({ compile: false }).compile(any(null)), 'INVALID_CONFIG', /loss/],
  ['compile({ loss: null })', () => tokenModel({ compile: false }).compile(any({ loss: null })), 'INVALID_CONFIG', /loss is required/],
  ['compile({ loss: 5 })', () => tokenModel({ compile: false }).compile(any({ loss: 5 })), 'INVALID_CONFIG', /loss must be/],
  ['compile optimizer null', () => tokenModel({ compile: false }).compile(any({ loss: 'mse', optimizer: null })), 'INVALID_CONFIG', /optimizer must be/],
  ['compile metrics null', () => tokenModel({ compile: false }).compile(any({ loss: 'mse', metrics: null })), 'INVALID_CONFIG', /metrics must be an array/],
  ['compile loss fromLogits "yes"', () => tokenModel({ compile: false }).compile(any({ loss: { type: 'mse', fromLogits: 'yes' } })), 'INVALID_CONFIG', /fromLogits/],
  // fit
  ['fit(x, y, 5)', () => model.fit(x, y, any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['fit(null, y)', () => model.fit(any(null), y, { verbose: 0 }), 'INVALID_ARGUMENT', /x must be a Tensor.* got null/],
  ['fit(x, undefined)', () => model.fit(x, any(undefined), { verbose: 0 }), 'INVALID_ARGUMENT', /y must be a Tensor.* got undefined/],
  ['fit("abc", y)', () => model.fit(any('abc'), y, { verbose: 0 }), 'INVALID_ARGUMENT', /x must be a Tensor/],
  ['fit callbacks: 5', () => model.fit(x, y, any({ verbose: 0, callbacks: 5 })), 'INVALID_ARGUMENT', /callbacks must be an array/],
  ['fit callbacks: [null]', () => model.fit(x, y, any({ verbose: 0, callbacks: [null] })), 'INVALID_ARGUMENT', /callbacks\[0\] must be a callback object, got null/],
  ['fit callbacks: [5]', () => model.fit(x, y, any({ verbose: 0, callbacks: [5] })), 'INVALID_ARGUMENT', /callbacks\[0\]/],
  ['fit signal: {}', () => model.fit(x, y, any({ verbose: 0, signal: {} })), 'INVALID_ARGUMENT', /signal must be an AbortSignal/],
  ['fit signal: null', () => model.fit(x, y, any({ verbose: 0, signal: null })), 'INVALID_ARGUMENT', /signal must be an AbortSignal/],
  ['fit verbose: 2', () => model.fit(x, y, any({ verbose: 2 })), 'INVALID_ARGUMENT', /verbose must be 0 or 1/],
  ['fit shuffle: "no"', () => model.fit(x, y, any({ verbose: 0, shuffle: 'no' })), 'INVALID_ARGUMENT', /shuffle must be true or false/],
  ['fit validationSplit: null', () => model.fit(x, y, any({ verbose: 0, validationSplit: null })), 'INVALID_ARGUMENT', /validationSplit/],
  ['fit validationData: null', () => model.fit(x, y, any({ verbose: 0, validationData: null })), 'INVALID_ARGUMENT', /validationData must be a pair/],
  ['fit epochs: null', () => model.fit(x, y, any({ verbose: 0, epochs: null })), 'INVALID_ARGUMENT', /epochs .* got null/],
  // the other methods
  ['evaluate(x, y, "a")', () => model.evaluate(x, y, any('a')), 'INVALID_ARGUMENT', /options must be an object/],
  ['predict(undefined)', () => model.predict(any(undefined)), 'INVALID_ARGUMENT', /x must be a Tensor/],
  ['predictSync(null)', () => model.predictSync(any(null)), 'INVALID_ARGUMENT', /x must be a Tensor/],
  ['predictStep({})', () => model.predictStep(any({})), 'INVALID_ARGUMENT', /x must be a Tensor/],
  ['trainOnBatch(x, 5)', () => model.trainOnBatch(x, any(5)), 'INVALID_ARGUMENT', /y must be a Tensor/],
  ['setWeights(null)', () => model.setWeights(any(null)), 'INVALID_ARGUMENT', /record/],
  ['setWeights({ w: [1] })', () => model.setWeights(any({ '2.bias': [1] })), 'INVALID_ARGUMENT', /2\.bias must be a Tensor/],
  ['setLearningRate("0.1")', () => model.setLearningRate(any('0.1')), 'INVALID_ARGUMENT', /learningRate/],
  ['save(123)', () => model.save(any(123)), 'INVALID_ARGUMENT', /path must be a file path .* got 123/],
  ['save(undefined)', () => model.save(any(undefined)), 'INVALID_ARGUMENT', /path must be a file path/],
  ['save(path, 5)', () => model.save('/nonexistent/x.safetensors', any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['save includeOptimizer "yes"', () => model.save('/nonexistent/x.safetensors', any({ includeOptimizer: 'yes' })), 'INVALID_ARGUMENT', /includeOptimizer/],
  ['saveWeights(null)', () => model.saveWeights(any(null)), 'INVALID_ARGUMENT', /path/],
  ['loadWeights(5)', () => model.loadWeights(any(5)), 'INVALID_ARGUMENT', /path/],
  ['Sequential.load(undefined)', () => Sequential.load(any(undefined)), 'INVALID_ARGUMENT', /path must be a file path/],
  ['Sequential.load(path, "x")', () => Sequential.load('/nonexistent/x.safetensors', any('x')), 'INVALID_ARGUMENT', /options must be an object/],
  // duck-typed tensors, metadata, deep nesting
  ['a duck-typed tensor with a Float64Array', () => model.predict(floatDuck(new Float64Array(12))), 'INVALID_ARGUMENT', /x\.data must be an Int32Array or a Float32Array, got \[object Float64Array\]/],
  ['a duck-typed tensor with a number[]', () => model.predict(floatDuck([1, 2, 3], [1, 3], 'int32')), 'INVALID_ARGUMENT', /x\.data must be/],
  ['a duck-typed tensor whose dtype lies', () => model.predict(floatDuck(new Int32Array(3), [1, 3], 'float32')), 'INVALID_ARGUMENT', /dtype is "float32" but its data is a Int32Array/],
  ['a duck-typed tensor whose shape is a number', () => model.predict(floatDuck(new Int32Array(3), 3, 'int32')), 'INVALID_ARGUMENT', /shape must be an array/],
  ['a duck-typed y with a Uint8Array', () => model.evaluate(x, floatDuck(new Uint8Array(4), [4, 1])), 'INVALID_ARGUMENT', /y\.data must be/],
  ['setWeights with a Float64Array', () => model.setWeights({ '2.bias': floatDuck(new Float64Array(1), [1]) }), 'INVALID_ARGUMENT', /2\.bias\.data must be/],
  [
    'BigInt metadata',
    () => {
      const m = tokenModel()
      m.metadata = { n: 10n }
      return m.save('/nonexistent/x.safetensors')
    },
    'INVALID_ARGUMENT',
    /metadata must be JSON-serialisable/,
  ],
  [
    'circular metadata',
    () => {
      const m = tokenModel()
      m.metadata = circular
      return m.saveWeights('/nonexistent/x.safetensors')
    },
    'INVALID_ARGUMENT',
    /metadata must be JSON-serialisable/,
  ],
  ['a 3,000-deep nested array', () => model.predict(any(deep)), 'INVALID_ARGUMENT', /nested more than/],
  // tensor()
  ['tensor(null)', () => tensor(any(null)), 'INVALID_ARGUMENT', /tensor\(\) takes/],
  ['tensor("abc")', () => tensor(any('abc')), 'INVALID_ARGUMENT', /tensor\(\) takes/],
  ['tensor(data, 5)', () => tensor(new Float32Array(2), any(5)), 'INVALID_ARGUMENT', /shape must be an array/],
  // text
  ['padSequences(null)', () => padSequences(any(null)), 'INVALID_ARGUMENT', /sequences must be an array/],
  ['padSequences(5)', () => padSequences(any(5)), 'INVALID_ARGUMENT', /sequences must be an array/],
  ['padSequences([null])', () => padSequences(any([null])), 'INVALID_ARGUMENT', /sequences\[0\] must be an array/],
  ['padSequences([[1, "a"]])', () => padSequences(any([[1, 'a']])), 'INVALID_ARGUMENT', /sequences\[0\]\[1\]/],
  ['padSequences(seqs, 5)', () => padSequences([[1]], any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['padSequences padding null', () => padSequences([[1]], any({ padding: null })), 'INVALID_ARGUMENT', /padding/],
  ['new Tokenizer(5)', () => new Tokenizer(any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['Tokenizer filters 5', () => new Tokenizer(any({ filters: 5 })), 'INVALID_ARGUMENT', /filters must be a string/],
  ['Tokenizer lower "x"', () => new Tokenizer(any({ lower: 'x' })), 'INVALID_ARGUMENT', /lower must be true or false/],
  ['Tokenizer oovToken 5', () => new Tokenizer(any({ oovToken: 5 })), 'INVALID_ARGUMENT', /oovToken must be a string or null/],
  ['Tokenizer split null', () => new Tokenizer(any({ split: null })), 'INVALID_ARGUMENT', /split/],
  ['tokenizer.fitOnTexts([5])', () => new Tokenizer().fitOnTexts(any([5])), 'INVALID_ARGUMENT', /texts\[0\] must be a string or an array of words, got 5/],
  ['tokenizer.fitOnTexts(null)', () => new Tokenizer().fitOnTexts(any(null)), 'INVALID_ARGUMENT', /fitOnTexts: expected an array/],
  ['tokenizer.fitOnTexts("abc")', () => new Tokenizer().fitOnTexts(any('abc')), 'INVALID_ARGUMENT', /fitOnTexts: expected an array/],
  ['tokenizer.fitOnTexts([["a", 5]])', () => new Tokenizer().fitOnTexts(any([['a', 5]])), 'INVALID_ARGUMENT', /texts\[0\]\[1\] must be a word/],
  ['tokenizer.textsToSequences(null)', () => new Tokenizer().textsToSequences(any(null)), 'INVALID_ARGUMENT', /textsToSequences/],
  ['tokenizer.textsToSequences([null])', () => new Tokenizer().textsToSequences(any([null])), 'INVALID_ARGUMENT', /texts\[0\]/],
  ['tokenizer.sequencesToTexts([5])', () => new Tokenizer().sequencesToTexts(any([5])), 'INVALID_ARGUMENT', /sequences\[0\] must be an array/],
  ['text.readWords(5)', () => text.readWords(any(5)), 'INVALID_ARGUMENT', /path/],
  ['text.buildVocabulary(null)', () => text.buildVocabulary(any(null)), 'INVALID_ARGUMENT', /buildVocabulary/],
  // layers
  ['layers.lstm(null)', () => layers.lstm(any(null)), 'INVALID_CONFIG', /expected a config object, got null/],
  ['layers.dense("x")', () => layers.dense(any('x')), 'INVALID_CONFIG', /expected a config object/],
  ['layers.lstm dropout null', () => layers.lstm(any({ units: 2, dropout: null })), 'INVALID_CONFIG', /dropout/],
  ['layers.lstm returnSequences null', () => layers.lstm(any({ units: 2, returnSequences: null })), 'INVALID_CONFIG', /returnSequences/],
  ['layers.dense inputShape null', () => layers.dense(any({ units: 2, inputShape: null })), 'INVALID_CONFIG', /inputShape/],
  ['layers.maxPooling1d(5)', () => layers.maxPooling1d(any(5)), 'INVALID_CONFIG', /expected a config object/],
  // callbacks
  ['callbacks.earlyStopping(5)', () => callbacks.earlyStopping(any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['earlyStopping monitor 5', () => callbacks.earlyStopping(any({ monitor: 5 })), 'INVALID_ARGUMENT', /monitor/],
  ['earlyStopping restoreBestWeights null', () => callbacks.earlyStopping(any({ restoreBestWeights: null })), 'INVALID_ARGUMENT', /restoreBestWeights/],
  ['callbacks.modelCheckpoint(null)', () => callbacks.modelCheckpoint(any(null)), 'INVALID_ARGUMENT', /path is required/],
  ['modelCheckpoint mode "up"', () => callbacks.modelCheckpoint(any({ path: 'x', mode: 'up' })), 'INVALID_ARGUMENT', /mode must be/],
  ['callbacks.progressBar({ stream: 5 })', () => callbacks.progressBar(any({ stream: 5 })), 'INVALID_ARGUMENT', /stream/],
  ['callbacks.learningRateScheduler(5)', () => callbacks.learningRateScheduler(any(5)), 'INVALID_ARGUMENT', /schedule must be a function/],
  // generate
  ['generate(null, options)', () => generate(any(null), { prompt: 'a' }), 'INVALID_ARGUMENT', /Sequential model/],
  ['generate(model, null)', () => generate(wordModel(), any(null)), 'INVALID_ARGUMENT', /prompt must be/],
  ['generate prompt 5', () => generate(wordModel(), any({ prompt: 5 })), 'INVALID_ARGUMENT', /prompt must be/],
  ['generate words 1.5', () => generate(wordModel(), any({ prompt: 'a', words: 1.5 })), 'INVALID_ARGUMENT', /words/],
  ['generate temperature null', () => generate(wordModel(), any({ prompt: 'a', temperature: null })), 'INVALID_ARGUMENT', /temperature/],
]

function wordModel(): Sequential {
  const m = new Sequential([layers.embedding({ inputDim: 2, outputDim: 2 }), layers.lstm({ units: 2 }), layers.dense({ units: 2 })], { numThreads: 1 })
  m.metadata = { task: 'words', vocabulary: ['a', 'b'], input: 'embedding', training: 'windows' }
  return m
}

describe('wrong-typed arguments get a coded LstmError', () => {
  it.each(REFUSED)('%s', async (_, f, code, message) => {
    const err = await failure(f)
    expect(err, 'expected a failure').toBeInstanceOf(LstmError)
    expect((err as LstmError).code, (err as Error).message).toBe(code)
    if (message) expect((err as Error).message).toMatch(message)
  })

  it('async methods reject rather than throw', () => {
    for (const f of [() => model.fit(any(null), y), () => model.save(any(1)), () => Sequential.load(any(null)), () => model.predict(any(null))]) {
      const p = f()
      expect(p).toBeInstanceOf(Promise)
      p.catch(() => {})
    }
  })
})

describe('null as a whole options argument means no options', () => {
  it.each<[string, () => unknown]>([
    ['new Sequential(layers, null)', () => new Sequential([layers.dense({ units: 1, inputShape: [2] })], null)],
    ['fit(x, y, null)', () => tokenModel().fit(x, y, null)],
    ['evaluate(x, y, null)', () => model.evaluate(x, y, null)],
    ['predict(x, null)', () => model.predict(x, null)],
    ['predictSync(x, null)', () => model.predictSync(x, null)],
    ['padSequences(seqs, null)', () => padSequences([[1, 2]], null)],
    ['new Tokenizer(null)', () => new Tokenizer(null)],
    ['callbacks.earlyStopping(null)', () => callbacks.earlyStopping(null)],
    ['callbacks.progressBar(null)', () => callbacks.progressBar(null)],
    ['layers.maxPooling1d(null)', () => layers.maxPooling1d(null)],
    ['layers.globalAveragePooling1d(null)', () => layers.globalAveragePooling1d(null)],
    ['Tokenizer numWords null and oovToken null (their types list null)', () => new Tokenizer({ numWords: null, oovToken: null })],
  ])('%s', async (_, f) => {
    expect(await failure(f)).toBeUndefined()
  })
})
