/**
 * The Node API surface: summary, PyTorch weight names and shapes, setWeights, predict vs predictSync, sequence
 * lengths, seeds and thread counts (determinism), save/load, and the built package (CommonJS and ESM), plus how a
 * model affects the lifetime of the process.
 */
import { spawn } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { imdbModel, layers, Sequential, tensor } from '../src/index.js'
import { DIST_CJS, DIST_ESM, distState as builtDistState } from './fixtures/dist.js'
import { ROOT, scratchDir, tokenModel, toyFloats, toyTokens, weightsAsArrays } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('api')
afterAll(cleanup)

// LSTM_NATIVE_TEST_SRC=1 runs the child scripts from src/ (through tsx) even when dist/ is built.
const distState = process.env.LSTM_NATIVE_TEST_SRC === '1' ? 'ignored (LSTM_NATIVE_TEST_SRC=1)' : builtDistState()
const distUsable = distState === 'fresh'
if (!distUsable) console.warn(`[api] dist/ is ${distState} (run \`npm run build:ts\`): the CommonJS/ESM package checks are skipped, and child scripts use tsx on src/`)

/** Runs a child process; resolves with its exit code, output and the time from start to exit. */
function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; outputAt: number }> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(cmd, args, { cwd: scratch, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let outputAt = 0
    child.stdout.on('data', (d) => {
      stdout += d
      outputAt = performance.now() - start
    })
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start, outputAt })
    })
  })
}

/** A child script: ESM importing the built package when dist/ is fresh, else TypeScript run by tsx on src/. */
function script(name: string, body: string): { cmd: string; args: string[] } {
  if (distUsable) {
    const file = join(scratch, `${name}.mjs`)
    writeFileSync(file, `import { Sequential, layers, tensor } from ${JSON.stringify(pathToFileURL(DIST_ESM).href)}\n${body}`)
    return { cmd: process.execPath, args: [file] }
  }
  const file = join(scratch, `${name}.mts`)
  writeFileSync(file, `import { Sequential, layers, tensor } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src', 'index.ts')).href)}\n${body}`)
  return { cmd: process.execPath, args: ['--import', pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, file] }
}

describe('summary', () => {
  it('returns a Keras-like table with output shapes and the total parameter count', () => {
    const m = new Sequential(
      [layers.embedding({ inputDim: 20, outputDim: 6 }), layers.dropout({ rate: 0.1 }), layers.lstm({ units: 5 }), layers.dense({ units: 3, activation: 'softmax' })],
      { name: 'tiny', numThreads: 1 },
    )
    const printed: string[] = []
    const s = m.summary((line) => printed.push(line))
    expect(printed).toEqual([s])
    // embedding 20·6 = 120; LSTM 4·5·(6+5) + 2·4·5 = 260; dense 3·5 + 3 = 18.
    const total = 120 + 260 + 18
    const fromWeights = Object.values(m.getWeights()).reduce((a, t) => a + t.data.length, 0)
    expect(fromWeights).toBe(total)
    expect(s).toContain('Model: "tiny"')
    expect(s).toMatch(/Layer \(type\)\s+Output Shape\s+Param #/)
    expect(s).toMatch(/0: embedding \(Embedding\)\s+\(None, None, 6\)\s+120\n/)
    expect(s).toMatch(/1: dropout \(Dropout\)\s+\(None, None, 6\)\s+0\n/)
    // Keras stores one bias per gate where PyTorch's layout (these weights) has two: 4·5 fewer.
    expect(s).toMatch(/2: lstm \(LSTM\)\s+\(None, 5\)\s+260 \(Keras: 240\)\n/)
    expect(s).toMatch(/3: dense \(Dense\)\s+\(None, 3\)\s+18\n/)
    expect(s).toContain(`Total params: ${total} (Keras: ${total - 20})\n`)
    expect(s).toContain(`Trainable params: ${total} (Keras: ${total - 20})\n`)
    expect(s).toContain('Non-trainable params: 0')
    // The table's rules span the widest row.
    const rule = s.split('\n')[1]
    expect(Math.max(...s.split('\n').map((l) => l.length))).toBeLessThanOrEqual(rule.length + 1)
  })

  it("shows the tutorial IMDB model's LSTM as 60,800 (Keras: 60,400), a bidirectional one with both directions", () => {
    const s = imdbModel({ numThreads: 1 }).summary(() => {})
    expect(s).toMatch(/lstm \(LSTM\)\s+\(None, 100\)\s+60,800 \(Keras: 60,400\)\n/)
    // Keras's summary of the tutorial model: 50,000 + 60,400 + 25,250 + 251.
    expect(s).toContain('Total params: 136,301 (Keras: 135,901)\n')
    const bi = imdbModel({ numThreads: 1, bidirectional: true }).summary(() => {})
    expect(bi).toMatch(/\(LSTM, bidirectional\)\s+\(None, 200\)\s+121,600 \(Keras: 120,800\)\n/)
  })

  it('a model without an LSTM shows one count', () => {
    const s = new Sequential([layers.dense({ units: 3, inputShape: [null, 2] })], { numThreads: 1 }).summary(() => {})
    expect(s).toContain('Total params: 9\n')
    expect(s).not.toContain('Keras:')
  })
})

describe('global pooling', () => {
  it('pools an LSTM sequence to [B, F]; the summary names the Keras classes', () => {
    const m = new Sequential(
      [layers.embedding({ inputDim: 20, outputDim: 4 }), layers.lstm({ units: 5, returnSequences: true, bidirectional: true }), layers.globalMaxPooling1d(), layers.dense({ units: 1 })],
      { numThreads: 1 },
    )
    const s = m.summary(() => {})
    expect(s).toMatch(/2: globalMaxPooling1d \(GlobalMaxPooling1D\)\s+\(None, 10\)\s+0\n/)
    const out = m.predictSync(tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]))
    expect(out.shape).toEqual([2, 1])
  })

  it('average pooling skips the masked padding (maskZero), so extra padding changes nothing', () => {
    const m = new Sequential(
      [layers.embedding({ inputDim: 20, outputDim: 4, maskZero: true }), layers.lstm({ units: 5, returnSequences: true }), layers.globalAveragePooling1d(), layers.dense({ units: 2 })],
      { numThreads: 1 },
    )
    const short = m.predictSync(tensor(new Int32Array([0, 7, 3, 9]), [1, 4])).data
    const long = m.predictSync(tensor(new Int32Array([0, 0, 0, 0, 7, 3, 9]), [1, 7])).data
    expect(Array.from(long)).toEqual(Array.from(short))
    // Max pooling ignores the mask, as Keras's does: the padded steps (zero state) take part.
    const max = new Sequential([layers.embedding({ inputDim: 20, outputDim: 4, maskZero: true }), layers.lstm({ units: 5, returnSequences: true }), layers.globalMaxPooling1d()], { numThreads: 1 })
    const pooled = max.predictSync(tensor(new Int32Array([0, 7, 3, 9]), [1, 4])).data
    expect(Math.min(...pooled)).toBeGreaterThanOrEqual(0)
  })

  it('refuses an input that is not a sequence, and unknown options', () => {
    expect(() => new Sequential([layers.embedding({ inputDim: 5, outputDim: 2 }), layers.lstm({ units: 3 }), layers.globalAveragePooling1d()])).toThrow(/returnSequences: true/)
    expect(() => layers.globalMaxPooling1d({ keepdims: true } as never)).toThrow(/unknown option "keepdims"/)
    expect(() => layers.globalAveragePooling1d({ inputShape: [4] as never })).toThrow(/inputShape must be \[timesteps, features\]/)
  })
})

describe('weights', () => {
  it("getWeights names and shapes are PyTorch's ('2.weight_ih', gate rows 4H, dense [out, in], _reverse)", () => {
    const m = new Sequential(
      [
        layers.embedding({ inputDim: 20, outputDim: 6 }),
        layers.dropout({ rate: 0.1 }),
        layers.lstm({ units: 5, returnSequences: true, bidirectional: true }),
        layers.lstm({ units: 4 }),
        layers.dense({ units: 3 }),
      ],
      { numThreads: 1 },
    )
    const shapes = Object.fromEntries(Object.entries(m.getWeights()).map(([k, t]) => [k, [...t.shape]]))
    expect(shapes).toEqual({
      '0.weight': [20, 6],
      '2.weight_ih': [20, 6],
      '2.weight_hh': [20, 5],
      '2.bias_ih': [20],
      '2.bias_hh': [20],
      '2.weight_ih_reverse': [20, 6],
      '2.weight_hh_reverse': [20, 5],
      '2.bias_ih_reverse': [20],
      '2.bias_hh_reverse': [20],
      '3.weight_ih': [16, 10],
      '3.weight_hh': [16, 4],
      '3.bias_ih': [16],
      '3.bias_hh': [16],
      '4.weight': [3, 4],
      '4.bias': [3],
    })
    for (const t of Object.values(m.getWeights())) expect(t.dtype).toBe('float32')
  })

  it('setWeights round-trips, changes predictions, and getWeights returns copies', () => {
    const a = tokenModel({ seed: 1 })
    const b = tokenModel({ seed: 2 })
    const { x } = toyTokens(6)
    expect(Array.from(a.predictSync(x).data)).not.toEqual(Array.from(b.predictSync(x).data))
    const w = a.getWeights()
    b.setWeights(w)
    expect(weightsAsArrays(b)).toEqual(weightsAsArrays(a))
    expect(Array.from(b.predictSync(x).data)).toEqual(Array.from(a.predictSync(x).data))
    // Mutating what getWeights returned does not reach the model.
    ;(w['2.bias'].data as Float32Array)[0] = 123
    expect(a.getWeights()['2.bias'].data[0]).not.toBe(123)
    // A partial dictionary replaces only the named weights.
    const before = weightsAsArrays(b)
    b.setWeights({ '2.bias': tensor(new Float32Array([0.5]), [1]) })
    expect(weightsAsArrays(b)['2.bias']).toEqual([0.5])
    expect(weightsAsArrays(b)['1.weight_ih']).toEqual(before['1.weight_ih'])
  })
})

describe('predict', () => {
  it('predict equals predictSync, for any batch size', async () => {
    const m = tokenModel()
    const { x } = toyTokens(37)
    const sync = Array.from(m.predictSync(x).data)
    expect(Array.from((await m.predict(x)).data)).toEqual(sync)
    expect(Array.from((await m.predict(x, { batchSize: 5 })).data)).toEqual(sync)
    expect(Array.from(m.predictSync(x, { batchSize: 1 }).data)).toEqual(sync)
    // The caller may reuse its buffer while predict runs: the data is copied in.
    const data = Int32Array.from(x.data)
    const p = m.predict(tensor(data, x.shape))
    data.fill(3)
    expect(Array.from((await p).data)).toEqual(sync)
  })

  it('a model accepts different sequence lengths T at fit and predict', async () => {
    const m = tokenModel()
    for (const T of [5, 9]) {
      const { x, y } = toyTokens(16, T)
      const h = await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 })
      expect(Number.isFinite(h.history.loss[0])).toBe(true)
    }
    for (const T of [1, 3, 17]) {
      const out = await m.predict(toyTokens(4, T).x)
      expect(out.shape).toEqual([4, 1])
      expect(m.predictSync(toyTokens(4, T).x).shape).toEqual([4, 1])
    }
    // Float inputs with a free time axis, too; returnSequences keeps T.
    const f = new Sequential([layers.lstm({ units: 3, returnSequences: true, inputShape: [null, 3] }), layers.dense({ units: 2 })], { numThreads: 1 })
    expect(f.predictSync(toyFloats(2, 4).x).shape).toEqual([2, 4, 2])
    expect(f.predictSync(toyFloats(2, 11).x).shape).toEqual([2, 11, 2])
  })
})

describe('determinism', () => {
  it('the same seed gives identical weights and identical training losses; another seed does not', async () => {
    const { x, y } = toyTokens(48, 6, 10, 3)
    const a = tokenModel({ seed: 42 })
    const b = tokenModel({ seed: 42 })
    const c = tokenModel({ seed: 43 })
    expect(weightsAsArrays(b)).toEqual(weightsAsArrays(a))
    expect(weightsAsArrays(c)).not.toEqual(weightsAsArrays(a))
    const ha = await a.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 })
    const hb = await b.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 })
    expect(hb.history.loss).toEqual(ha.history.loss)
    expect(weightsAsArrays(b)).toEqual(weightsAsArrays(a))
  })

  it('numThreads 1 and 2 give bit-identical losses and weights after fit with dropout', async () => {
    const { x, y } = toyTokens(96, 6, 10, 4)
    const fit = async (numThreads: number, dropout?: number) => {
      const m = tokenModel({ seed: 5, numThreads, dropout })
      const h = await m.fit(x, y, { epochs: 2, batchSize: 32, verbose: 0 })
      return { loss: h.history.loss, weights: weightsAsArrays(m) }
    }
    const one = await fit(1, 0.3)
    const two = await fit(2, 0.3)
    expect(two.loss).toEqual(one.loss)
    expect(two.weights).toEqual(one.weights)
    // The dropout was live: the same model without it trains differently.
    const none = await fit(1)
    expect(none.loss).not.toEqual(one.loss)
  })
})

describe('save and load', () => {
  it('round trip: identical predictions, name, metadata and compile state (fit works after load)', async () => {
    const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 4 }), layers.lstm({ units: 6 }), layers.dense({ units: 1, activation: 'sigmoid' })], { name: 'saved', seed: 3, numThreads: 1 })
    m.compile({ loss: 'binaryCrossentropy', optimizer: { type: 'rmsprop', learningRate: 0.01 }, metrics: ['accuracy'] })
    m.metadata = { vocabulary: ['a', 'b'], note: 'hello' }
    const { x, y } = toyTokens(24)
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 })
    const path = join(scratch, 'model.safetensors')
    await m.save(path)
    const loaded = await Sequential.load(path, { numThreads: 1 })
    expect(loaded).toBeInstanceOf(Sequential)
    expect(loaded.name).toBe('saved')
    expect(loaded.metadata).toEqual({ vocabulary: ['a', 'b'], note: 'hello' })
    expect(loaded.layers.map((l) => l.type)).toEqual(['embedding', 'lstm', 'dense'])
    expect(Array.from((await loaded.predict(x)).data)).toEqual(Array.from(m.predictSync(x).data))
    expect(weightsAsArrays(loaded)).toEqual(weightsAsArrays(m))
    // No compile() call: the loss, optimizer and metrics came with the file.
    const h = await loaded.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 })
    expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss'])
    expect(await loaded.evaluate(x, y)).toHaveProperty('accuracy')
  })

  it('includeOptimizer: the optimizer state resumes training exactly; without it training restarts the state', async () => {
    const { x, y } = toyTokens(32)
    const m = tokenModel()
    await m.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 })
    const withOpt = join(scratch, 'with-opt.safetensors')
    const withoutOpt = join(scratch, 'without-opt.safetensors')
    await m.save(withOpt)
    await m.save(withoutOpt, { includeOptimizer: false })
    // Adam keeps two moments per weight.
    expect(statSync(withOpt).size).toBeGreaterThan(statSync(withoutOpt).size * 2)
    const a = await Sequential.load(withOpt, { numThreads: 1 })
    const b = await Sequential.load(withoutOpt, { numThreads: 1 })
    const more = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as const
    const hm = await m.fit(x, y, more)
    const ha = await a.fit(x, y, more)
    const hb = await b.fit(x, y, more)
    expect(ha.history.loss).toEqual(hm.history.loss)
    expect(weightsAsArrays(a)).toEqual(weightsAsArrays(m))
    expect(weightsAsArrays(b)).not.toEqual(weightsAsArrays(m))
    expect(Number.isFinite(hb.history.loss[0])).toBe(true)
  })

  it('saveWeights / loadWeights move the weights to a model of the same architecture', async () => {
    const { x } = toyTokens(10)
    const a = tokenModel({ seed: 1 })
    const b = tokenModel({ seed: 2, compile: false })
    const path = join(scratch, 'weights.safetensors')
    await a.saveWeights(path)
    await b.loadWeights(path)
    expect(weightsAsArrays(b)).toEqual(weightsAsArrays(a))
    expect(Array.from(b.predictSync(x).data)).toEqual(Array.from(a.predictSync(x).data))
    // A saved file holds the architecture too: it loads as a model.
    const c = await Sequential.load(path, { numThreads: 1 })
    expect(Array.from(c.predictSync(x).data)).toEqual(Array.from(a.predictSync(x).data))
  })

  it('the file is safetensors with PyTorch names (readable by other tools)', async () => {
    const m = tokenModel()
    const path = join(scratch, 'inspect.safetensors')
    await m.saveWeights(path)
    const buf = readFileSync(path)
    const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>
    const w = m.getWeights()
    // saveWeights: exactly the weights, under their PyTorch names, plus the metadata.
    expect(Object.keys(header).sort()).toEqual(['__metadata__', ...Object.keys(w)].sort())
    for (const [name, t] of Object.entries(w)) {
      expect(header[name].dtype).toBe('F32')
      expect(header[name].shape).toEqual([...t.shape])
    }
  })
})

describe('the built package', () => {
  const smoke = `const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 4 }), layers.lstm({ units: 3 }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 });
m.compile({ loss: 'mse' });
const x = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
const out = m.predictSync(x);
m.fit(x, tensor(new Float32Array([0, 1]), [2, 1]), { verbose: 0 }).then((h) => console.log(JSON.stringify({ shape: out.shape, loss: h.history.loss.length })));`

  it.skipIf(!distUsable)(`CommonJS: require('dist/index.js') works${distUsable ? '' : ` — skipped: dist/ is ${distState}, run npm run build:ts`}`, async () => {
    const r = await run(process.execPath, ['-e', `const { Sequential, layers, tensor } = require(${JSON.stringify(DIST_CJS)});\n${smoke}`])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ shape: [2, 1], loss: 1 })
  })

  it.skipIf(!distUsable)(`ESM: import of dist/index.mjs works${distUsable ? '' : ` — skipped: dist/ is ${distState}, run npm run build:ts`}`, async () => {
    const file = join(scratch, 'esm-smoke.mjs')
    writeFileSync(file, `import { Sequential, layers, tensor } from ${JSON.stringify(pathToFileURL(DIST_ESM).href)};\n${smoke}`)
    const r = await run(process.execPath, [file])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ shape: [2, 1], loss: 1 })
  })
})

describe('process lifetime', () => {
  it('a top-level `await model.fit(...)` keeps the process alive until fit resolves, then it exits with code 0', { timeout: 60_000 }, async () => {
    // verbose 1: the progress bar is an observer, so fit passes the native loop a (weak) progress callback.
    const { cmd, args } = script(
      'fit-top-level',
      `const m = new Sequential([layers.embedding({ inputDim: 50, outputDim: 8 }), layers.lstm({ units: 16 }), layers.dense({ units: 1, activation: 'sigmoid' })], { seed: 1, numThreads: 1 })
m.compile({ loss: 'binaryCrossentropy', metrics: ['accuracy'] })
const n = 600, T = 30
const x = new Int32Array(n * T).map((_, i) => (i * 7919) % 50)
const y = new Float32Array(n).map((_, i) => i % 2)
const h = await m.fit(tensor(x, [n, T]), tensor(y, [n, 1]), { epochs: 2, batchSize: 16, verbose: 1 })
console.log('HISTORY ' + JSON.stringify(h.history))
`,
    )
    const r = await run(cmd, args)
    // Exit code 13 would be Node's "unsettled top-level await": the pending fit did not keep the process alive.
    expect(r.stderr).toBe('')
    expect(r.signal).toBeNull()
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Epoch 1\/2 {2}38\/38 \[=+\]/)
    const history = JSON.parse(r.stdout.split('HISTORY ')[1]) as Record<string, number[]>
    expect(history.loss).toHaveLength(2)
    expect(history.accuracy).toHaveLength(2)
    // Nothing (the progress callback, the model's worker thread) holds the process once fit has resolved.
    console.log(`[lifetime] fit script: output done at ${r.outputAt.toFixed(0)} ms, exited at ${r.ms.toFixed(0)} ms`)
    expect(r.ms - r.outputAt).toBeLessThan(1500)
  })

  it('a script that makes a model (and predicts) but never trains exits at once', { timeout: 60_000 }, async () => {
    const { cmd, args } = script(
      'no-train',
      `const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 4 }), layers.lstm({ units: 3 }), layers.dense({ units: 1 })], { seed: 1 })
m.compile({ loss: 'mse' })
const p = await m.predict(tensor(new Int32Array([1, 2, 3]), [1, 3]))
console.log('READY ' + p.shape.join('x'))
`,
    )
    const r = await run(cmd, args, 20_000)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('READY 1x1')
    console.log(`[lifetime] no-train script: output at ${r.outputAt.toFixed(0)} ms, exited at ${r.ms.toFixed(0)} ms`)
    expect(r.ms - r.outputAt).toBeLessThan(1500)
  })

  it('without await, an abandoned fit still runs to completion before the process exits', { timeout: 60_000 }, async () => {
    const { cmd, args } = script(
      'fit-no-await',
      `const m = new Sequential([layers.embedding({ inputDim: 10, outputDim: 4 }), layers.lstm({ units: 8 }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 })
m.compile({ loss: 'mse' })
const x = new Int32Array(400 * 20).map((_, i) => i % 10)
m.fit(tensor(x, [400, 20]), tensor(new Float32Array(400), [400, 1]), { epochs: 3, verbose: 0 }).then((h) => console.log('DONE ' + h.epoch.length))
`,
    )
    const r = await run(cmd, args)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('DONE 3')
  })
})

