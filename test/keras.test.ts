/**
 * Keras interop: every Keras fixture (the shared Keras-trained models as .keras, Keras 3 .h5 and Keras 2 .h5, and
 * the ones scripts/keras_models.py makes) predicts what Keras predicted, within 1e-5; unsupported layers and options
 * are UNSUPPORTED naming the layer; the export round-trips, through Keras itself when Python with Keras is there;
 * corrupt files are CORRUPT_WEIGHTS or IO; and `import 'lstm-native'` loads no WebAssembly.
 */
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { layers, loadModel, LstmError, Sequential, type Tensor, tensor } from '../src/index.js'
import { ensureDist } from './fixtures/dist.js'
import { expectRejects, ROOT, rng, scratchDir, toyFloats, toyTokens } from './helpers.js'

const run = promisify(execFile)
const FIXTURES = join(ROOT, 'test/fixtures/keras')
const { dir: scratch, cleanup } = scratchDir('keras')
afterAll(cleanup)

interface Io {
  x: number[]
  xShape: number[]
  xDtype: string
  y: number[]
  yShape: number[]
}

function readIo(file: string): { x: Tensor; y: number[]; yShape: number[] } {
  const io = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as Io
  const x = tensor(io.xDtype.startsWith('int') ? Int32Array.from(io.x) : Float32Array.from(io.x), io.xShape)
  return { x, y: io.y, yShape: io.yShape }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/** Each model's files and the predictions Keras made for them. */
const MODELS = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.io.json') && !f.endsWith('.keras2.io.json'))
  .map((f) => f.slice(0, -'.io.json'.length))

describe('fromKeras matches Keras', () => {
  it('has the shared models and the repository\'s own', () => {
    expect(MODELS).toEqual(expect.arrayContaining(['imdb_lstm', 'bilstm_gru_masked', 'conv_gmp_series', 'gru_stack', 'simple_rnn', 'conv_pool_lstm', 'bigru_masked', 'no_bias', 'functional_chain']))
  })
  for (const name of MODELS) {
    for (const [file, io] of [
      [`${name}.keras`, `${name}.io.json`],
      [`${name}.h5`, `${name}.io.json`],
      [`${name}.keras2.h5`, `${name}.keras2.io.json`],
    ]) {
      it(`${file} predicts Keras's outputs within 1e-5`, async () => {
        const model = await Sequential.fromKeras(join(FIXTURES, file), { numThreads: 1 })
        const { x, y, yShape } = readIo(io)
        const out = await model.predict(x)
        expect(out.shape).toEqual(yShape)
        expect(maxDiff(out.data, y)).toBeLessThan(1e-5)
      })
    }
  }

  it('reads the layers, the compile configuration and the model name', async () => {
    const model = await Sequential.fromKeras(join(FIXTURES, 'bilstm_gru_masked.keras'), { numThreads: 1, seed: 5 })
    expect(model.layers.map((l) => l.type)).toEqual(['embedding', 'lstm', 'gru', 'dense'])
    expect(model.layers[0]).toMatchObject({ inputDim: 1000, outputDim: 16, maskZero: true })
    expect(model.layers[1]).toMatchObject({ units: 8, bidirectional: true, returnSequences: true })
    expect(model.name).toBe('sequential_1')
    expect(model.getLearningRate()).toBeCloseTo(0.001, 9)
    // The loss came along: evaluate needs a compiled model.
    const { x } = readIo('bilstm_gru_masked.io.json')
    const labels = tensor(new Int32Array(x.shape[0]).map((_, i) => i % 3), [x.shape[0]])
    expect(Number.isFinite((await model.evaluate(x, labels)).loss)).toBe(true)
    // Keras 2's file has the same compile configuration under another layout.
    expect((await Sequential.fromKeras(join(FIXTURES, 'bilstm_gru_masked.keras2.h5'), { numThreads: 1 })).getLearningRate()).toBeCloseTo(0.001, 9)
    // The functional model's Activation became its Dense layer's activation; accuracy was among its metrics.
    const chain = await Sequential.fromKeras(join(FIXTURES, 'functional_chain.keras'), { numThreads: 1 })
    expect(chain.layers.map((l) => l.type)).toEqual(['conv1d', 'globalAveragePooling1d', 'dense'])
    expect(chain.layers[2]).toMatchObject({ activation: 'softmax' })
    expect(chain.getLearningRate()).toBeCloseTo(0.01, 9)
  })

  it('compile: false skips the compile configuration', async () => {
    const model = await Sequential.fromKeras(join(FIXTURES, 'gru_stack.keras'), { numThreads: 1, compile: false })
    expect(() => model.getLearningRate()).toThrow(/compile/)
  })

  it('keeps LSTM gate order, the single bias in bias_ih and GRU z, r, h as r, z, n', async () => {
    // Direct checks of the conversions against the raw Keras arrays would need an HDF5 reader in the test; the
    // structure of the converted weights is checked here, their values by the predictions above.
    const lstm = (await Sequential.fromKeras(join(FIXTURES, 'imdb_lstm.h5'), { numThreads: 1 })).getWeights()
    expect(lstm['2.weight_ih'].shape).toEqual([400, 50])
    expect(lstm['2.weight_hh'].shape).toEqual([400, 100])
    expect([...lstm['2.bias_hh'].data].every((v) => v === 0)).toBe(true)
    expect([...lstm['2.bias_ih'].data].some((v) => v !== 0)).toBe(true)
    const gru = (await Sequential.fromKeras(join(FIXTURES, 'gru_stack.keras'), { numThreads: 1 })).getWeights()
    expect(gru['1.bias_hh'].shape).toEqual([18])
    expect([...gru['1.bias_hh'].data].some((v) => v !== 0)).toBe(true)
    const conv = (await Sequential.fromKeras(join(FIXTURES, 'conv_pool_lstm.keras'), { numThreads: 1 })).getWeights()
    expect(conv['0.weight'].shape).toEqual([6, 3, 3])
  })
})

describe('unsupported models', () => {
  it.each([
    ['unsupported_layernorm', /LayerNormalization layer "norm": this layer class is not implemented.*reads InputLayer, Embedding/],
    ['unsupported_gru_reset_before', /GRU layer "old_gru": reset_after=false/],
    ['unsupported_merge_sum', /Bidirectional layer "bi_sum": merge_mode "sum" \(only "concat"\)/],
  ])('%s is UNSUPPORTED naming the layer and the option', async (name, message) => {
    await expectRejects(() => Sequential.fromKeras(join(FIXTURES, `${name}.keras`)), 'UNSUPPORTED', message)
  })

  it('refuses a masked sequence that a layer reads at its masked steps', async () => {
    // Keras writes zeros at masked steps (zero_output_for_mask); lstm-native repeats the last output. A Dense right
    // after such a sequence would see different values, so the import refuses it rather than approximate.
    const config = JSON.parse(await unzipEntry(join(FIXTURES, 'bigru_masked.keras'), 'config.json'))
    const layersList = config.config.layers as { class_name: string }[]
    const pool = layersList.findIndex((l) => l.class_name === 'GlobalAveragePooling1D')
    layersList[pool] = { ...layersList[pool], class_name: 'GlobalMaxPooling1D' }
    const file = await rezip(join(FIXTURES, 'bigru_masked.keras'), { 'config.json': JSON.stringify(config) }, 'masked-max.keras')
    await expectRejects(() => Sequential.fromKeras(file), 'UNSUPPORTED', /Bidirectional layer "bidirectional": its masked output sequence \(zero_output_for_mask\) goes to GlobalMaxPooling1D/)
  })

  it('refuses a stateful RNN and a model with two inputs, naming them', async () => {
    const config = JSON.parse(await unzipEntry(join(FIXTURES, 'gru_stack.keras'), 'config.json'))
    const gru = (config.config.layers as { class_name: string; config: Record<string, unknown> }[]).find((l) => l.class_name === 'GRU')
    if (!gru) throw new Error('gru_stack has no GRU')
    gru.config.stateful = true
    const stateful = await rezip(join(FIXTURES, 'gru_stack.keras'), { 'config.json': JSON.stringify(config) }, 'stateful.keras')
    await expectRejects(() => Sequential.fromKeras(stateful), 'UNSUPPORTED', new RegExp(`GRU layer "${gru.config.name}": stateful=true`))
    const chain = JSON.parse(await unzipEntry(join(FIXTURES, 'functional_chain.keras'), 'config.json'))
    const input = chain.config.layers[0]
    chain.config.layers.splice(1, 0, { ...input, config: { ...input.config, name: 'second_input' } })
    const twoInputs = await rezip(join(FIXTURES, 'functional_chain.keras'), { 'config.json': JSON.stringify(chain) }, 'two-inputs.keras')
    await expectRejects(() => Sequential.fromKeras(twoInputs), 'UNSUPPORTED', /Functional layer "chain": it has 2 inputs; only single-input models are read/)
  })

  it('refuses an optimizer it lacks, unless compile: false', async () => {
    const config = JSON.parse(await unzipEntry(join(FIXTURES, 'gru_stack.keras'), 'config.json'))
    config.compile_config.optimizer.class_name = 'Adagrad'
    const file = await rezip(join(FIXTURES, 'gru_stack.keras'), { 'config.json': JSON.stringify(config) }, 'adagrad.keras')
    await expectRejects(() => Sequential.fromKeras(file), 'UNSUPPORTED', /optimizer Adagrad is not implemented.*compile: false/)
    const model = await Sequential.fromKeras(file, { compile: false, numThreads: 1 })
    const { x, y } = readIo('gru_stack.io.json')
    expect(maxDiff((await model.predict(x)).data, y)).toBeLessThan(1e-5)
  })
})

async function unzipEntry(file: string, name: string): Promise<string> {
  const { unzipSync } = await import('fflate')
  return new TextDecoder().decode(unzipSync(readFileSync(file))[name])
}

async function rezip(file: string, replace: Record<string, string>, out: string): Promise<string> {
  const { unzipSync, zipSync } = await import('fflate')
  const entries = unzipSync(readFileSync(file))
  for (const [k, v] of Object.entries(replace)) entries[k] = new TextEncoder().encode(v)
  const path = join(scratch, out)
  writeFileSync(path, zipSync(entries))
  return path
}

/** Models trained a little in lstm-native, so every bias (bias_hh too) is non-zero. */
async function trainedModels(): Promise<{ name: string; model: Sequential; x: Tensor }[]> {
  const floats = toyFloats(16, 10, 3)
  const tokens = toyTokens(16, 8, 20)
  const made = [
    {
      name: 'lstm_bigru',
      x: floats.x,
      y: floats.y,
      model: new Sequential([layers.lstm({ units: 5, returnSequences: true, inputShape: [10, 3] }), layers.gru({ units: 4, bidirectional: true }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 }),
      loss: 'mse' as const,
    },
    {
      name: 'conv_rnn',
      x: floats.x,
      y: floats.y,
      model: new Sequential(
        [
          layers.conv1d({ filters: 4, kernelSize: 3, padding: 'causal', activation: 'relu', inputShape: [10, 3] }),
          layers.maxPooling1d({ poolSize: 2 }),
          layers.simpleRnn({ units: 3, bidirectional: true, returnSequences: true }),
          layers.globalMaxPooling1d(),
          layers.dropout({ rate: 0.1 }),
          layers.dense({ units: 1 }),
        ],
        { seed: 2, numThreads: 1 },
      ),
      loss: 'mse' as const,
    },
    {
      name: 'tokens_bilstm',
      x: tokens.x,
      y: tokens.y,
      model: new Sequential(
        [layers.embedding({ inputDim: 20, outputDim: 6, maskZero: true }), layers.lstm({ units: 4, bidirectional: true }), layers.dense({ units: 1, activation: 'sigmoid' })],
        { seed: 3, numThreads: 1 },
      ),
      loss: 'binaryCrossentropy' as const,
    },
  ]
  for (const m of made) {
    m.model.compile({ loss: m.loss, optimizer: { type: 'adam', learningRate: 0.05 }, metrics: m.loss === 'mse' ? [] : ['accuracy'] })
    await m.model.fit(m.x, m.y, { epochs: 2, batchSize: 4, verbose: 0 })
    const w = m.model.getWeights()
    const recurrentBias = Object.keys(w).filter((k) => k.includes('bias_hh'))
    expect(recurrentBias.length).toBeGreaterThan(0)
    for (const k of recurrentBias) expect([...w[k].data].some((v) => v !== 0)).toBe(true)
  }
  return made
}

describe('toKeras', () => {
  it('round-trips through a .keras file: predictions, layers, compile settings and metadata', async () => {
    for (const { name, model, x } of await trainedModels()) {
      model.metadata = { task: 'test', vocabulary: ['a', 'b'] }
      const file = join(scratch, `${name}.keras`)
      await model.toKeras(file)
      const back = await Sequential.fromKeras(file, { numThreads: 1 })
      // The LSTM's and SimpleRNN's two biases become their sum in Keras: equal up to float rounding.
      expect(maxDiff((await back.predict(x)).data, (await model.predict(x)).data)).toBeLessThan(1e-6)
      expect(back.layers.map((l) => l.type)).toEqual(model.layers.map((l) => l.type))
      expect(back.getLearningRate()).toBeCloseTo(0.05, 7)
      expect(back.metadata).toEqual(model.metadata)
    }
  })

  it('refuses a path that Keras would not open, and leaves no file on failure', async () => {
    const model = new Sequential([layers.dense({ units: 1, inputShape: [2] })], { numThreads: 1 })
    await expectRejects(() => model.toKeras(join(scratch, 'm.h5')), 'INVALID_ARGUMENT', /only from a \.keras file/)
    await expectRejects(() => model.toKeras(join(scratch, 'missing-folder', 'm.keras')), 'IO', /does not exist/)
    expect(readdirSync(scratch).filter((f) => f.includes('.tmp'))).toEqual([])
  })
})

/** Python with Keras: `LSTM_NATIVE_PYTHON`, else the benchmark's venv, else `python3`; undefined when none imports keras. */
async function kerasPython(): Promise<string | undefined> {
  const candidates = [process.env.LSTM_NATIVE_PYTHON, join(ROOT, 'bench/.venv/bin/python'), 'python3'].filter((p): p is string => !!p)
  for (const python of candidates) {
    if (python.includes('/') && !existsSync(python)) continue
    try {
      await run(python, [join(ROOT, 'scripts/keras_models.py'), 'check'], { timeout: 120_000 })
      return python
    } catch {
      // Next candidate.
    }
  }
  return undefined
}

describe('round trip through Keras', () => {
  let python: string | undefined
  beforeAll(async () => {
    python = await kerasPython()
    if (!python) console.log('[keras.test] skipping the Keras round trip: no Python with Keras and TensorFlow or JAX (set LSTM_NATIVE_PYTHON, or run `node bench/run.mjs --setup`)')
  }, 150_000)

  it('Keras predicts what lstm-native predicts, and its re-saved file loads back the same', async (ctx) => {
    if (!python) return ctx.skip()
    for (const { name, model, x } of await trainedModels()) {
      const file = join(scratch, `rt-${name}.keras`)
      await model.toKeras(file)
      const io = join(scratch, `rt-${name}.io.json`)
      writeFileSync(io, JSON.stringify({ x: [...x.data], xShape: x.shape, xDtype: x.dtype }))
      const out = join(scratch, `rt-${name}.out.json`)
      const resaved = join(scratch, `rt-${name}.resaved.keras`)
      await run(python, [join(ROOT, 'scripts/keras_models.py'), 'predict', file, io, out, resaved], { timeout: 300_000, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } })
      const ours = await model.predict(x)
      const keras = JSON.parse(readFileSync(out, 'utf8')) as { y: number[]; yShape: number[] }
      expect(keras.yShape).toEqual(ours.shape)
      expect(maxDiff(ours.data, keras.y), name).toBeLessThan(1e-5)
      const back = await Sequential.fromKeras(resaved, { numThreads: 1 })
      expect(maxDiff((await back.predict(x)).data, ours.data), name).toBeLessThan(1e-5)
      expect(back.getLearningRate()).toBeCloseTo(0.05, 7)
    }
  }, 600_000)
})

describe('corrupt, truncated and non-Keras files', () => {
  /**
   * Each input must give a model or an LstmError of CORRUPT_WEIGHTS or IO (UNSUPPORTED when a changed byte turns
   * the configuration into another valid one); anything else (a TypeError, INTERNAL, a crash) fails. HDF5 has no
   * checksums on data by default, so a flip inside a weight array loads. `LSTM_KERAS_FUZZ_CASES` sets the inputs per
   * source file (default 40; each read starts an HDF5 worker, about 0.1 s).
   */
  async function outcome(path: string): Promise<string> {
    try {
      await Sequential.fromKeras(path, { numThreads: 1 })
      return 'loaded'
    } catch (err) {
      if (!(err instanceof LstmError)) return `untyped: ${String(err)}`
      if (!['CORRUPT_WEIGHTS', 'IO', 'UNSUPPORTED'].includes(err.code)) return `${err.code}: ${err.message}`
      return err.code
    }
  }

  it('never crashes, and answers with a typed error', async () => {
    const r = rng(99)
    const counts: Record<string, number> = {}
    const record = (o: string) => {
      counts[o] = (counts[o] ?? 0) + 1
    }
    const sources = ['bilstm_gru_masked.keras', 'bilstm_gru_masked.h5', 'bilstm_gru_masked.keras2.h5', 'conv_gmp_series.keras', 'no_bias.h5']
    const cases = Number(process.env.LSTM_KERAS_FUZZ_CASES ?? 40)
    const file = join(scratch, 'fuzz.bin')
    for (const source of sources) {
      const bytes = readFileSync(join(FIXTURES, source))
      for (let c = 0; c < cases; c++) {
        const mutated = Uint8Array.from(bytes)
        let out: Uint8Array = mutated
        const kind = c % 4
        if (kind === 0) out = mutated.subarray(0, Math.floor(r() * bytes.length))
        else if (kind === 1) for (let k = 0; k < 1 + Math.floor(r() * 8); k++) mutated[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8)
        else if (kind === 2) {
          // Overwrite a run of bytes in the first 4 KiB: the superblock, the object headers, the zip's local header.
          const at = Math.floor(r() * Math.min(4096, bytes.length))
          for (let k = at; k < Math.min(at + 1 + Math.floor(r() * 64), bytes.length); k++) mutated[k] = Math.floor(r() * 256)
        } else for (let k = 0; k < 32; k++) mutated[Math.floor(r() * Math.min(bytes.length, 2048))] = Math.floor(r() * 256)
        writeFileSync(file, out)
        const o = await outcome(file)
        record(o)
        if (!['loaded', 'CORRUPT_WEIGHTS', 'IO', 'UNSUPPORTED'].includes(o)) throw new Error(`${source} case ${c} (kind ${kind}): ${o}`)
      }
    }
    for (const [name, content] of [
      ['empty.keras', new Uint8Array(0)],
      ['text.h5', new TextEncoder().encode('not a model\n')],
      ['safetensors-as.keras', readFileSync(join(ROOT, 'test/fixtures/keras/imdb_lstm.io.json')).subarray(0, 100)],
    ] as const) {
      const path = join(scratch, name)
      writeFileSync(path, content)
      expect(await outcome(path)).toBe('CORRUPT_WEIGHTS')
    }
    expect(await outcome(join(scratch, 'no-such-file.keras'))).toBe('IO')
    // The module still works after all that.
    const { x, y } = readIo('conv_gmp_series.io.json')
    expect(maxDiff((await (await Sequential.fromKeras(join(FIXTURES, 'conv_gmp_series.keras'), { numThreads: 1 })).predict(x)).data, y)).toBeLessThan(1e-5)
    console.log(`[keras.test] fuzz outcomes over ${sources.length * cases} mutated files: ${JSON.stringify(counts)}`)
    expect(counts.CORRUPT_WEIGHTS).toBeGreaterThan(0)
  }, 300_000)

  it('a zip or HDF5 file that is not a Keras model is CORRUPT_WEIGHTS naming what is missing', async () => {
    const notKeras = await rezip(join(FIXTURES, 'gru_stack.keras'), {}, 'plain.keras')
    const { unzipSync, zipSync } = await import('fflate')
    const entries = unzipSync(readFileSync(notKeras))
    delete entries['model.weights.h5']
    writeFileSync(notKeras, zipSync(entries))
    await expectRejects(() => Sequential.fromKeras(notKeras), 'CORRUPT_WEIGHTS', /lacks them/)
    const badJson = await rezip(join(FIXTURES, 'gru_stack.keras'), { 'config.json': '{"class_name": ' }, 'bad-json.keras')
    await expectRejects(() => Sequential.fromKeras(badJson), 'CORRUPT_WEIGHTS', /config\.json is not JSON/)
    // The weights of one model under another's configuration: the shapes disagree.
    const swapped = await rezip(join(FIXTURES, 'gru_stack.keras'), { 'config.json': await unzipEntry(join(FIXTURES, 'bigru_masked.keras'), 'config.json') }, 'swapped.keras')
    await expectRejects(() => Sequential.fromKeras(swapped), 'CORRUPT_WEIGHTS', /weight arrays|has shape/)
  })
})

describe('loading lazily', () => {
  beforeAll(() => ensureDist(), 150_000)

  it('import and require of lstm-native load no WebAssembly; fromKeras reads HDF5 in a worker', async () => {
    // Counts WebAssembly instantiations on this thread, and workers started, while the package loads (given time
    // for anything it starts asynchronously), then while fromKeras runs.
    const probe = (load: string) => `
      let wasm = 0
      for (const k of ['instantiate', 'compile', 'instantiateStreaming', 'compileStreaming']) {
        const f = WebAssembly[k]; if (f) WebAssembly[k] = function (...a) { wasm++; return f.apply(this, a) }
      }
      const threads = require('node:worker_threads')
      let workers = 0
      const W = threads.Worker
      threads.Worker = class extends W { constructor(...a) { super(...a); workers++ } }
      require('node:module').syncBuiltinESMExports()
      ${load}
      await new Promise((r) => setTimeout(r, 1000))
      const atImport = { wasm, workers }
      const model = await lib.Sequential.fromKeras(${JSON.stringify(join(FIXTURES, 'conv_gmp_series.keras'))}, { numThreads: 1 })
      console.log(JSON.stringify({ atImport, after: { wasm, workers }, layers: model.layers.length }))`
    for (const esm of [true, false]) {
      const load = esm ? `const lib = await import(${JSON.stringify(join(ROOT, 'dist/index.mjs'))})` : `const lib = require(${JSON.stringify(join(ROOT, 'dist/index.js'))})`
      const script = join(scratch, esm ? 'probe.mjs' : 'probe.cjs')
      const body = probe(load)
      writeFileSync(script, esm ? `import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\n${body}` : `(async () => {${body}})()`)
      const { stdout } = await run(process.execPath, [script])
      const counts = JSON.parse(stdout.trim().split('\n').pop() as string) as { atImport: { wasm: number; workers: number }; after: { wasm: number; workers: number }; layers: number }
      expect(counts.atImport, load).toEqual({ wasm: 0, workers: 0 })
      expect(counts.after, load).toEqual({ wasm: 0, workers: 1 })
      expect(counts.layers).toBe(3)
    }
  }, 120_000)
})

describe('CLI', () => {
  const cli = join(ROOT, 'dist/cli.js')
  beforeAll(() => ensureDist(), 150_000)

  it('converts .keras → .safetensors → .keras, each predicting the same', async () => {
    const st = join(scratch, 'cli.safetensors')
    const back = join(scratch, 'cli-back.keras')
    await run(process.execPath, [cli, 'convert', join(FIXTURES, 'imdb_lstm.keras2.h5'), st])
    await run(process.execPath, [cli, 'convert', st, back])
    const { x, y } = readIo('imdb_lstm.keras2.io.json')
    for (const file of [st, back]) expect(maxDiff((await (await loadModel(file, { numThreads: 1 })).predict(x)).data, y)).toBeLessThan(1e-5)
    const err = await run(process.execPath, [cli, 'convert', st, join(scratch, 'x.h5')]).then(
      () => undefined,
      (e: { stderr: string }) => e,
    )
    expect(err?.stderr).toMatch(/INVALID_ARGUMENT: convert: expected \.keras\/\.h5 → \.safetensors or \.safetensors → \.keras/)
  }, 120_000)

  it('predict reads a Keras model with a Keras word index', async () => {
    // A made-up word index: the ranks are what keras.datasets.imdb.get_word_index() gives.
    const index = join(scratch, 'word_index.json')
    writeFileSync(index, JSON.stringify({ the: 1, and: 2, film: 19, great: 84 }))
    const model = join(scratch, 'imdb.keras')
    copyFileSync(join(FIXTURES, 'imdb_lstm.keras'), model)
    const { stdout } = await run(process.execPath, [cli, 'predict', '--model', model, '--word-index', index, 'the', 'film', 'was', 'great'])
    // The same review encoded by hand as load_data would: start 1, rank + 3, out-of-vocabulary 2, 'pre' padding.
    const ids = new Int32Array(200)
    ids.set([1, 4, 22, 2, 87], 195)
    const expected = (await (await Sequential.fromKeras(model, { numThreads: 1 })).predict(tensor(ids, [1, 200]))).data[0]
    expect(Number(stdout.trim())).toBeCloseTo(expected, 4)
  }, 120_000)
})
