/**
 * The Rust core's PyTorch golden cases, replayed through the public TypeScript API: build the case's Sequential with
 * the `layers.*` factories, load its PyTorch parameters with `setWeights`, and compare `predict` with
 * `expected.output` and `evaluate` with `expected.loss` (1e-5 absolute + 1e-4 relative, as the cases' README says).
 * Cases with an optimizer also take one `trainOnBatch` step and are compared with `expected.param_after.*`.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type LayerSpec, layers, type Loss, type Optimizer, Sequential, type Tensor, tensor } from '../src/index.js'

const GOLDEN = join(__dirname, '..', 'crates', 'lstm-core', 'tests', 'golden')

interface CaseMeta {
  layers: Array<Record<string, unknown> & { type: string }>
  loss: { type: string; fromLogits?: boolean }
  optimizer: ({ type: string } & Record<string, unknown>) | null
}

/** A safetensors file: u64 LE header length, a JSON header, then raw little-endian data. Only F32 and I32 occur here. */
function readSafetensors(path: string): { meta: Record<string, string>; tensors: Map<string, Tensor> } {
  const buf = readFileSync(path)
  const headerLen = Number(buf.readBigUInt64LE(0))
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>
  const base = 8 + headerLen
  const tensors = new Map<string, Tensor>()
  let meta: Record<string, string> = {}
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      meta = info as Record<string, string>
      continue
    }
    const { dtype, shape, data_offsets: [begin, end] } = info as { dtype: string; shape: number[]; data_offsets: [number, number] }
    // Copy into a fresh, aligned buffer (the file's offsets need not be 4-aligned), reading little-endian explicitly.
    const view = new DataView(buf.buffer, buf.byteOffset + base + begin, end - begin)
    const count = (end - begin) / 4
    let data: Int32Array | Float32Array
    if (dtype === 'F32') {
      data = new Float32Array(count)
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true)
    } else if (dtype === 'I32') {
      data = new Int32Array(count)
      for (let i = 0; i < count; i++) data[i] = view.getInt32(4 * i, true)
    } else {
      throw new Error(`${path}: ${name} has dtype ${dtype}, which this reader does not handle`)
    }
    tensors.set(name, tensor(data, shape))
  }
  return { meta, tensors }
}

/** The case's layers through the public factories. A first recurrent, convolutional or dense layer gets `inputShape` from the input, so its weights exist before `setWeights`. */
function buildLayers(meta: CaseMeta, input: Tensor): LayerSpec[] {
  return meta.layers.map((spec, i) => {
    const { type, ...config } = spec
    const first = i === 0 && input.dtype === 'float32' ? { inputShape: [null, input.shape[input.shape.length - 1]] as [null, number] } : {}
    switch (type) {
      case 'embedding':
        return layers.embedding(config as unknown as Parameters<typeof layers.embedding>[0])
      case 'lstm':
        return layers.lstm({ ...(config as unknown as Parameters<typeof layers.lstm>[0]), ...first })
      case 'dense':
        return layers.dense({ ...(config as unknown as Parameters<typeof layers.dense>[0]), ...first })
      case 'gru':
        return layers.gru({ ...(config as unknown as Parameters<typeof layers.gru>[0]), ...first })
      case 'simpleRnn':
        return layers.simpleRnn({ ...(config as unknown as Parameters<typeof layers.simpleRnn>[0]), ...first })
      case 'conv1d':
        return layers.conv1d({ ...(config as unknown as Parameters<typeof layers.conv1d>[0]), ...first })
      case 'maxPooling1d':
        return layers.maxPooling1d(config as unknown as Parameters<typeof layers.maxPooling1d>[0])
      case 'globalAveragePooling1d':
        return layers.globalAveragePooling1d()
      case 'globalMaxPooling1d':
        return layers.globalMaxPooling1d()
      default:
        throw new Error(`golden case layer ${i} has an unknown type ${type}`)
    }
  })
}

/** Asserts |a - e| ≤ 1e-5 + 1e-4·|e| elementwise, reporting the worst element. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): number {
  expect(actual.length, `${what}: length`).toBe(expected.length)
  let worst = 0
  let worstAt = -1
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (1e-5 + 1e-4 * Math.abs(expected[i]))
    if (!(excess <= worst)) {
      worst = Number.isNaN(excess) ? Infinity : excess
      worstAt = i
    }
  }
  expect(worstAt, `${what}: element ${worstAt} is ${actual[worstAt]}, expected ${expected[worstAt]}`).toBe(-1)
  let maxAbs = 0
  for (let i = 0; i < expected.length; i++) maxAbs = Math.max(maxAbs, Math.abs(actual[i] - expected[i]))
  return maxAbs
}

// The cases and those of its subfolders (`rnn/`: GRU, SimpleRNN, Conv1D, MaxPooling1D), as relative paths.
const files = (readdirSync(GOLDEN, { recursive: true }) as string[])
  .filter((f) => f.endsWith('.safetensors'))
  .sort()

describe('golden cases (PyTorch) through the TypeScript API', () => {
  it('finds the cases', () => {
    // The README lists seven; a missing folder must not pass as "no cases".
    expect(files.length).toBeGreaterThanOrEqual(7)
  })

  describe.each(files)('%s', (file) => {
    const { meta, tensors } = readSafetensors(join(GOLDEN, file))
    const c = JSON.parse(meta.case) as CaseMeta
    const input = tensors.get('input')!
    const params = Object.fromEntries([...tensors].filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice('param.'.length), v]))

    function fresh(): Sequential {
      const model = new Sequential(buildLayers(c, input), { seed: 3, numThreads: 1 })
      model.setWeights(params)
      return model
    }

    it('setWeights takes every PyTorch parameter, and getWeights gives them back', () => {
      const model = fresh()
      const got = model.getWeights()
      expect(Object.keys(got).sort()).toEqual(Object.keys(params).sort())
      for (const [name, t] of Object.entries(params)) {
        expect(got[name].shape, name).toEqual(t.shape)
        expect(Array.from(got[name].data), name).toEqual(Array.from(t.data))
      }
    })

    it('predict matches expected.output', async () => {
      const model = fresh()
      const expected = tensors.get('expected.output')!
      const out = await model.predict(input)
      expect(out.shape).toEqual(expected.shape)
      const err = expectClose(out.data, expected.data, 'predict')
      // predictSync is the same computation on the JS thread: it must give the same bits.
      expect(Array.from(model.predictSync(input).data)).toEqual(Array.from(out.data))
      console.log(`[golden] ${file}: max |predict - expected| = ${err.toExponential(2)}`)
    })

    it('evaluate matches expected.loss', async () => {
      const model = fresh()
      model.compile({ loss: c.loss as unknown as Loss })
      const { loss } = await model.evaluate(input, tensors.get('target')!)
      expectClose([loss], tensors.get('expected.loss')!.data, 'loss')
    })

    // Only the cases with an optimizer hold expected.param_after: the others get no such test (rather than a skipped one).
    if (c.optimizer) it('one trainOnBatch step from fresh optimizer state matches expected.param_after', async () => {
      const model = fresh()
      model.compile({ loss: c.loss as unknown as Loss, optimizer: c.optimizer as unknown as Optimizer })
      const { loss } = await model.trainOnBatch(input, tensors.get('target')!)
      // The loss reported by the step is that of the weights before it.
      expectClose([loss], tensors.get('expected.loss')!.data, 'trainOnBatch loss')
      const after = model.getWeights()
      for (const name of Object.keys(params)) {
        expectClose(after[name].data, tensors.get(`expected.param_after.${name}`)!.data, `param_after.${name}`)
      }
    })
  })
})
