/**
 * Keras files, both ways: a Keras 3 `.keras` zip or a legacy HDF5 `.h5` (Keras 3 or Keras 2 / tf.keras) becomes
 * layer descriptions and PyTorch-layout weights, and back. HDF5 goes through h5wasm in a worker thread (src/hdf5.ts)
 * and zip through fflate, both imported on first use only: a WebAssembly instance reserves a large address space,
 * which must not cost anyone who never touches a Keras file.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { LstmError } from './errors.js'
import type { Activation, LayerSpec } from './layers.js'
import { type H5Group, type H5Node, Hdf5Error, isGroup, memberAt, readHdf5, writeHdf5 } from './hdf5.js'
import { KERAS_CLASS } from './keras-classes.js'
import { checkOutputPath } from './paths.js'
import { type Tensor, tensor } from './tensor.js'
import { describe } from './validate.js'

/** What a Keras file holds, in lstm-native's terms. */
export interface KerasModel {
  /** The model's name in Keras. */
  name: string
  /** The layers, in order. */
  specs: LayerSpec[]
  /** Weights by their PyTorch names (`'2.weight_ih'`). */
  weights: Record<string, Tensor>
  /** The loss, optimizer and metrics, when the file has a compile configuration. */
  compile?: { loss: unknown; optimizer: unknown; metrics: string[] }
  /** lstm-native's own `metadata`, when the file was written by `toKeras`. */
  metadata?: Record<string, unknown>
}

type Json = Record<string, unknown>

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

function corrupt(path: string, message: string, cause?: unknown): LstmError {
  return new LstmError('CORRUPT_WEIGHTS', `${path}: ${message}`, cause === undefined ? undefined : { cause })
}

/** A layer Keras has and lstm-native has not, or an option it does not implement. */
function unsupported(layer: { className: string; name: string }, what: string): LstmError {
  return new LstmError(
    'UNSUPPORTED',
    `${layer.className} layer ${JSON.stringify(layer.name)}: ${what}. lstm-native reads InputLayer, Embedding, LSTM, GRU (reset_after=True), SimpleRNN, Bidirectional (merge_mode="concat"), Conv1D (channels_last), MaxPooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, Dense, Dropout and Activation, in a Sequential model or a single-chain functional one`,
  )
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)
}

function parseJson(path: string, what: string, text: unknown): unknown {
  if (typeof text !== 'string') throw corrupt(path, `${what} is not a string (got ${describe(text)})`)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw corrupt(path, `${what} is not JSON: ${(err as Error).message}`, err)
  }
}

// --- Reading --------------------------------------------------------------------------------------------------

/** One Keras layer of the chain, with its class, name and config. */
interface KerasLayer {
  className: string
  name: string
  config: Json
  /** The layer's whole entry in the model configuration (`inbound_nodes`, `build_config`). */
  raw?: Json
}

/** Keras's `to_snake_case`, which names each layer's group in a `.keras` weights file (`MaxPooling1D` → `max_pooling1d`). */
function snakeCase(name: string): string {
  const s = name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
  return s.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()
}

/** The group names Keras 3 gives the layers of a model in `model.weights.h5`: `lstm`, `lstm_1`, `dense`, ... */
function kerasGroupNames(classNames: string[]): string[] {
  const used = new Map<string, number>()
  return classNames.map((c) => {
    const base = snakeCase(c)
    const n = used.get(base)
    used.set(base, n === undefined ? 0 : n + 1)
    return n === undefined ? base : `${base}_${n + 1}`
  })
}

/** The names of the layers a layer's (one) call reads, from Keras 3's or Keras 2's `inbound_nodes`. */
function inboundNames(layer: KerasLayer): string[] {
  const nodes = layer.raw?.inbound_nodes
  if (nodes === undefined || (Array.isArray(nodes) && nodes.length === 0)) return []
  if (!Array.isArray(nodes)) throw unsupported(layer, `its inbound_nodes are not a list (${describe(nodes)})`)
  if (nodes.length > 1) throw unsupported(layer, 'it is called more than once (a shared layer)')
  const names: string[] = []
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      // Keras 2: [[name, node_index, tensor_index, kwargs], ...]
      if (v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number') names.push(v[0])
      else v.forEach(walk)
    } else if (isObject(v)) {
      // Keras 3: {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node_index, tensor_index]}}
      const history = v.keras_history
      if (Array.isArray(history) && typeof history[0] === 'string') names.push(history[0])
      else Object.values(v).forEach(walk)
    }
  }
  walk(nodes[0])
  return names
}

/** The model's layers as one chain, in order: a Sequential, or a functional model whose layers each read the one before. */
function chainOf(path: string, modelConfig: unknown): { name: string; layers: KerasLayer[] } {
  if (!isObject(modelConfig) || typeof modelConfig.class_name !== 'string' || !isObject(modelConfig.config)) {
    throw corrupt(path, 'the model configuration has no class_name and config')
  }
  const klass = modelConfig.class_name
  const config = modelConfig.config
  const model = { className: klass, name: typeof config.name === 'string' ? config.name : 'model' }
  const list = config.layers
  if (!Array.isArray(list)) {
    if (klass === 'Sequential' || klass === 'Functional' || klass === 'Model') throw corrupt(path, `the ${klass} configuration has no layers list`)
    throw unsupported(model, 'only Sequential and functional models are read (a subclassed model has no configuration to rebuild)')
  }
  const layers = list.map((raw, i): KerasLayer => {
    if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) throw corrupt(path, `layer ${i} of the configuration has no class_name and config`)
    const name = typeof raw.config.name === 'string' ? raw.config.name : typeof raw.name === 'string' ? raw.name : `layer_${i}`
    return { className: raw.class_name, name, config: raw.config, raw }
  })
  if (klass === 'Sequential') return { name: model.name, layers }
  if (klass !== 'Functional' && klass !== 'Model') throw unsupported(model, 'only Sequential and functional models are read')
  const inputs = layers.filter((l) => l.className === 'InputLayer')
  if (inputs.length !== 1) throw unsupported(model, `it has ${inputs.length} inputs; only single-input models are read`)
  // A chain: each layer after the input reads exactly the one listed before it.
  for (let i = 1; i < layers.length; i++) {
    const from = inboundNames(layers[i])
    if (from.length !== 1) throw unsupported(layers[i], `it reads ${from.length} tensors; only a single chain of layers is read (no merges or branches)`)
    if (from[0] !== layers[i - 1].name) throw unsupported(layers[i], `it reads ${JSON.stringify(from[0])} rather than the layer before it; only a single chain of layers is read`)
  }
  if (layers[0].className !== 'InputLayer') throw unsupported(layers[0], 'a functional model must start with its InputLayer')
  const outputs = config.output_layers
  const last = layers[layers.length - 1].name
  const outputNames: string[] = []
  const collect = (v: unknown): void => {
    if (Array.isArray(v) && typeof v[0] === 'string') outputNames.push(v[0])
    else if (Array.isArray(v)) v.forEach(collect)
  }
  collect(outputs)
  if (outputNames.length !== 1 || outputNames[0] !== last) throw unsupported(model, `its outputs are ${JSON.stringify(outputNames)}; only a single output, the chain's last layer ${JSON.stringify(last)}, is read`)
  return { name: model.name, layers }
}

/** `v` as one positive integer: Keras writes sizes as `5` or `[5]`. */
function oneInt(layer: KerasLayer, key: string, v: unknown): number {
  const n = Array.isArray(v) && v.length === 1 ? v[0] : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw unsupported(layer, `${key} ${JSON.stringify(v)} is not one positive integer`)
  return n
}

function activationOf(layer: KerasLayer, v: unknown, allowed: readonly string[]): Activation {
  const name = typeof v === 'string' ? v : isObject(v) && typeof v.class_name === 'string' && v.class_name.toLowerCase() === 'function' ? v.config : isObject(v) ? v.class_name : v
  if (typeof name !== 'string' || !allowed.includes(name)) throw unsupported(layer, `activation ${JSON.stringify(name ?? v)} (supported: ${allowed.join(', ')})`)
  return name as Activation
}

/** Options that only training reads and lstm-native does not implement: refused rather than dropped. */
const TRAINING_ONLY = ['kernel_regularizer', 'recurrent_regularizer', 'bias_regularizer', 'activity_regularizer', 'embeddings_regularizer', 'kernel_constraint', 'recurrent_constraint', 'bias_constraint', 'embeddings_constraint']

function commonChecks(layer: KerasLayer): void {
  const c = layer.config
  for (const key of TRAINING_ONLY) if (c[key] !== undefined && c[key] !== null) throw unsupported(layer, `${key} is set (lstm-native has no regularizers or constraints)`)
  const dtype = isObject(c.dtype) && isObject(c.dtype.config) ? c.dtype.config.name : c.dtype
  if (dtype !== undefined && dtype !== null && dtype !== 'float32') throw unsupported(layer, `dtype ${JSON.stringify(dtype)} (only float32)`)
}

function flag(layer: KerasLayer, key: string, expected: boolean, why: string): void {
  const v = layer.config[key]
  if (v !== undefined && v !== null && v !== expected) throw unsupported(layer, `${key}=${String(v)} ${why}`)
}

function rate(layer: KerasLayer, key: string): number {
  const v = layer.config[key] ?? 0
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw unsupported(layer, `${key} ${JSON.stringify(v)} is not a rate in [0, 1)`)
  return v
}

type RecurrentKind = 'lstm' | 'gru' | 'simpleRnn'
const RECURRENT: Record<string, RecurrentKind> = { LSTM: 'lstm', GRU: 'gru', SimpleRNN: 'simpleRnn' }
const GATES: Record<RecurrentKind, number> = { lstm: 4, gru: 3, simpleRnn: 1 }

/** A recurrent layer's description; `bidirectional` for the inner layer of a Bidirectional. */
function recurrentSpec(layer: KerasLayer, kind: RecurrentKind): LayerSpec {
  const c = layer.config
  commonChecks(layer)
  flag(layer, 'stateful', false, '(a stateful Keras RNN; lstm-native keeps state only in predictStep)')
  flag(layer, 'return_state', false, '(only the output is returned)')
  flag(layer, 'go_backwards', false, '(reverse the input instead, or use Bidirectional)')
  flag(layer, 'time_major', false, '(inputs are batch-major)')
  if (kind === 'gru') flag(layer, 'reset_after', true, '(only the reset_after=True GRU, which is PyTorch\'s, is implemented)')
  const units = c.units
  if (typeof units !== 'number' || !Number.isInteger(units) || units < 1) throw unsupported(layer, `units ${JSON.stringify(units)} is not a positive integer`)
  if (kind === 'simpleRnn') {
    const activation = activationOf(layer, c.activation ?? 'tanh', ['tanh', 'relu', 'sigmoid', 'linear'])
    return { type: 'simpleRnn', units, returnSequences: c.return_sequences === true, dropout: rate(layer, 'dropout'), recurrentDropout: rate(layer, 'recurrent_dropout'), activation: activation as 'tanh' }
  }
  activationOf(layer, c.activation ?? 'tanh', ['tanh'])
  const recurrentActivation = c.recurrent_activation ?? 'sigmoid'
  if (recurrentActivation !== 'sigmoid') throw unsupported(layer, `recurrent_activation ${JSON.stringify(recurrentActivation)} (only sigmoid)`)
  const base = { units, returnSequences: c.return_sequences === true, dropout: rate(layer, 'dropout'), recurrentDropout: rate(layer, 'recurrent_dropout') }
  return kind === 'lstm' ? { type: 'lstm', ...base, unitForgetBias: c.unit_forget_bias !== false } : { type: 'gru', ...base }
}

/** How a layer's Keras weights become PyTorch ones. */
type Converter = (index: number, arrays: Tensor[], direction: '' | '_reverse') => Record<string, Tensor>

/** `[rows, cols]` → `[cols, rows]`. */
function transpose(t: Tensor): Tensor {
  const [r, c] = t.shape
  const out = new Float32Array(r * c)
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]
  return tensor(out, [c, r])
}

/** Rows of `t` (`[G·H, ...]`) regrouped by gate: block `order[k]` of the input becomes block `k` of the output. */
function gateRows(t: Tensor, gates: number, order: readonly number[]): Tensor {
  const rowLen = t.data.length / t.shape[0]
  const block = (t.shape[0] / gates) * rowLen
  const out = new Float32Array(t.data.length)
  order.forEach((from, to) => out.set(t.data.subarray(from * block, (from + 1) * block), to * block))
  return tensor(out, [...t.shape])
}

function zeros(n: number): Tensor {
  return tensor(new Float32Array(n), [n])
}

/** Keras's GRU gates are z, r, h; PyTorch's r, z, n. The same swap converts both ways. */
const GRU_ORDER = [1, 0, 2]

function recurrentConverter(kind: RecurrentKind, useBias: boolean): Converter {
  const gates = GATES[kind]
  const order = kind === 'gru' ? GRU_ORDER : [...Array(gates).keys()]
  return (i, arrays, d) => {
    const [kernel, recurrent, bias] = arrays
    const weightIh = gateRows(transpose(kernel), gates, order)
    const weightHh = gateRows(transpose(recurrent), gates, order)
    const n = weightIh.shape[0]
    let biasIh = zeros(n)
    let biasHh = zeros(n)
    if (useBias && kind === 'gru') {
      // reset_after: row 0 is the input bias, row 1 the recurrent one (inside the reset gate's product).
      biasIh = gateRows(tensor(bias.data.slice(0, n), [n]), gates, order)
      biasHh = gateRows(tensor(bias.data.slice(n, 2 * n), [n]), gates, order)
    } else if (useBias) {
      // One Keras bias: it all goes to bias_ih, and bias_hh stays zero (the sum is what the cell adds).
      biasIh = tensor(Float32Array.from(bias.data), [n])
    }
    return { [`${i}.weight_ih${d}`]: weightIh, [`${i}.weight_hh${d}`]: weightHh, [`${i}.bias_ih${d}`]: biasIh, [`${i}.bias_hh${d}`]: biasHh }
  }
}

/** The shapes Keras stores a layer's weights in, given its input features (for the checks). */
function recurrentShapes(kind: RecurrentKind, units: number, features: number, useBias: boolean): number[][] {
  const g = GATES[kind] * units
  const bias = kind === 'gru' ? [2, g] : [g]
  return useBias ? [[features, g], [units, g], bias] : [[features, g], [units, g]]
}

/** Converts one Keras layer (or none, for an InputLayer); `features` is its input's last dimension. */
interface Converted {
  spec?: LayerSpec
  /** Fold an Activation layer into the layer before it. */
  activation?: Activation
  /** Expected Keras weight shapes (forward direction, then backward for a Bidirectional). */
  shapes: number[][]
  convert?: (index: number, arrays: Tensor[]) => Record<string, Tensor>
  /** Output features (last dimension), for the next layer's checks. */
  outFeatures: number
  /** An InputLayer's shape without the batch axis, and its dtype. */
  input?: { shape: [number | null, number] | [number | null]; dtype: string }
}

const DENSE_ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const

function convertLayer(layer: KerasLayer, features: number): Converted {
  const c = layer.config
  const useBias = c.use_bias !== false
  switch (layer.className) {
    case 'InputLayer': {
      const shape = c.batch_shape ?? c.batch_input_shape ?? (Array.isArray(c.input_shape) ? [null, ...c.input_shape] : undefined)
      if (!Array.isArray(shape) || shape.length < 2 || shape.length > 3) throw unsupported(layer, `input shape ${JSON.stringify(shape)} (supported: [batch, steps] token ids or [batch, steps, features])`)
      const dtype = typeof c.dtype === 'string' ? c.dtype : 'float32'
      const dims = shape.slice(1).map((d) => (d === null ? null : Number(d))) as [number | null, number] | [number | null]
      return { shapes: [], outFeatures: (dims[dims.length - 1] as number | null) ?? 0, input: { shape: dims, dtype } }
    }
    case 'Embedding': {
      commonChecks(layer)
      const inputDim = oneInt(layer, 'input_dim', c.input_dim)
      const outputDim = oneInt(layer, 'output_dim', c.output_dim)
      return {
        spec: { type: 'embedding', inputDim, outputDim, maskZero: c.mask_zero === true },
        shapes: [[inputDim, outputDim]],
        convert: (i, [e]) => ({ [`${i}.weight`]: e }),
        outFeatures: outputDim,
      }
    }
    case 'LSTM':
    case 'GRU':
    case 'SimpleRNN': {
      const kind = RECURRENT[layer.className]
      const spec = recurrentSpec(layer, kind)
      const units = c.units as number
      const convert = recurrentConverter(kind, useBias)
      return { spec, shapes: recurrentShapes(kind, units, features, useBias), convert: (i, a) => convert(i, a, ''), outFeatures: units }
    }
    case 'Bidirectional': {
      commonChecks(layer)
      if ((c.merge_mode ?? 'concat') !== 'concat') throw unsupported(layer, `merge_mode ${JSON.stringify(c.merge_mode)} (only "concat")`)
      const inner = c.layer
      if (!isObject(inner) || typeof inner.class_name !== 'string' || !isObject(inner.config)) throw unsupported(layer, 'its wrapped layer has no class_name and config')
      const innerLayer = { className: inner.class_name, name: typeof inner.config.name === 'string' ? inner.config.name : layer.name, config: inner.config }
      const kind = RECURRENT[innerLayer.className]
      if (!kind) throw unsupported(innerLayer, 'inside a Bidirectional only LSTM, GRU and SimpleRNN are read')
      const back = c.backward_layer
      if (isObject(back) && isObject(back.config)) {
        // A backward layer of its own must be the forward one reading backwards, or the two directions differ.
        const b = back.config
        const same = ['units', 'return_sequences', 'use_bias', 'activation', 'reset_after'].every((k) => JSON.stringify(b[k]) === JSON.stringify(innerLayer.config[k]))
        if (back.class_name !== innerLayer.className || !same) throw unsupported(layer, 'its backward_layer differs from its forward layer')
      }
      const spec = { ...recurrentSpec(innerLayer, kind), bidirectional: true } as LayerSpec
      const units = innerLayer.config.units as number
      const innerBias = innerLayer.config.use_bias !== false
      const shapes = recurrentShapes(kind, units, features, innerBias)
      const convert = recurrentConverter(kind, innerBias)
      return {
        spec,
        shapes: [...shapes, ...shapes],
        convert: (i, a) => ({ ...convert(i, a.slice(0, shapes.length), ''), ...convert(i, a.slice(shapes.length), '_reverse') }),
        outFeatures: 2 * units,
      }
    }
    case 'Conv1D': {
      commonChecks(layer)
      if ((c.data_format ?? 'channels_last') !== 'channels_last') throw unsupported(layer, `data_format ${JSON.stringify(c.data_format)} (only channels_last)`)
      if ((c.groups ?? 1) !== 1) throw unsupported(layer, `groups ${JSON.stringify(c.groups)} (only 1)`)
      const padding = c.padding ?? 'valid'
      if (padding !== 'valid' && padding !== 'same' && padding !== 'causal') throw unsupported(layer, `padding ${JSON.stringify(padding)}`)
      const filters = oneInt(layer, 'filters', c.filters)
      const kernelSize = oneInt(layer, 'kernel_size', c.kernel_size)
      const strides = oneInt(layer, 'strides', c.strides ?? 1)
      const dilationRate = oneInt(layer, 'dilation_rate', c.dilation_rate ?? 1)
      const activation = activationOf(layer, c.activation ?? 'linear', DENSE_ACTIVATIONS)
      return {
        spec: { type: 'conv1d', filters, kernelSize, strides, padding, dilationRate, activation },
        shapes: useBias ? [[kernelSize, features, filters], [filters]] : [[kernelSize, features, filters]],
        convert: (i, [kernel, bias]) => {
          // [k, C, F] → [F, C, k]
          const [k, ch, f] = kernel.shape
          const w = new Float32Array(kernel.data.length)
          for (let a = 0; a < k; a++) for (let b = 0; b < ch; b++) for (let o = 0; o < f; o++) w[(o * ch + b) * k + a] = kernel.data[(a * ch + b) * f + o]
          return { [`${i}.weight`]: tensor(w, [f, ch, k]), [`${i}.bias`]: bias ?? zeros(f) }
        },
        outFeatures: filters,
      }
    }
    case 'MaxPooling1D': {
      commonChecks(layer)
      if ((c.data_format ?? 'channels_last') !== 'channels_last') throw unsupported(layer, `data_format ${JSON.stringify(c.data_format)} (only channels_last)`)
      const padding = c.padding ?? 'valid'
      if (padding !== 'valid' && padding !== 'same') throw unsupported(layer, `padding ${JSON.stringify(padding)}`)
      const poolSize = oneInt(layer, 'pool_size', c.pool_size ?? 2)
      const strides = oneInt(layer, 'strides', c.strides ?? poolSize)
      return { spec: { type: 'maxPooling1d', poolSize, strides, padding }, shapes: [], outFeatures: features }
    }
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D': {
      commonChecks(layer)
      if ((c.data_format ?? 'channels_last') !== 'channels_last') throw unsupported(layer, `data_format ${JSON.stringify(c.data_format)} (only channels_last)`)
      flag(layer, 'keepdims', false, '(the time axis is dropped)')
      return { spec: { type: layer.className === 'GlobalMaxPooling1D' ? 'globalMaxPooling1d' : 'globalAveragePooling1d' }, shapes: [], outFeatures: features }
    }
    case 'Dense': {
      commonChecks(layer)
      const units = oneInt(layer, 'units', c.units)
      const activation = activationOf(layer, c.activation ?? 'linear', DENSE_ACTIVATIONS)
      return {
        spec: { type: 'dense', units, activation },
        shapes: useBias ? [[features, units], [units]] : [[features, units]],
        convert: (i, [kernel, bias]) => ({ [`${i}.weight`]: transpose(kernel), [`${i}.bias`]: bias ?? zeros(units) }),
        outFeatures: units,
      }
    }
    case 'Dropout': {
      commonChecks(layer)
      if (c.noise_shape !== undefined && c.noise_shape !== null) throw unsupported(layer, 'noise_shape is set')
      return { spec: { type: 'dropout', rate: rate(layer, 'rate') }, shapes: [], outFeatures: features }
    }
    case 'Activation':
      commonChecks(layer)
      return { activation: activationOf(layer, c.activation, DENSE_ACTIVATIONS), shapes: [], outFeatures: features }
    default:
      throw unsupported(layer, 'this layer class is not implemented')
  }
}

/** Where a file keeps each layer's weight arrays, in Keras's order. */
type WeightSource = (layer: KerasLayer, position: number) => Tensor[]

function readArray(path: string, where: string, node: H5Node | undefined): Tensor {
  if (!node || isGroup(node)) throw corrupt(path, `${where} is not a dataset`)
  const { shape, value } = node
  const n = shape.reduce((a, b) => a * b, 1)
  if (!(value instanceof Float32Array || value instanceof Float64Array) || value.length !== n) {
    throw corrupt(path, `${where} is not a float array of shape [${shape.join(', ')}] (dtype ${describe(node.dtype)})`)
  }
  // A NaN or an infinity in a weight is damage (or a diverged model) that no prediction survives.
  const bad = value.findIndex((v) => !Number.isFinite(v))
  if (bad >= 0) throw corrupt(path, `${where} holds ${value[bad]} at element ${bad}`)
  return tensor(value instanceof Float32Array ? value : Float32Array.from(value), shape.length ? [...shape] : [1])
}

function groupAt(root: H5Group, at: string): H5Group | undefined {
  const node = memberAt(root, at)
  return isGroup(node) ? node : undefined
}

/** Keras 3's `model.weights.h5`: `layers/<snake_case class>[_n]/vars/0, 1, ...`, RNN cells below `cell/`. */
function kerasV3Source(path: string, root: H5Group, layers: KerasLayer[]): WeightSource {
  const groups = kerasGroupNames(layers.filter((l) => l.className !== 'InputLayer').map((l) => l.className))
  const vars = (at: string): Tensor[] => {
    const g = groupAt(root, `${at}/vars`)
    if (!g) return []
    const keys = Object.keys(g.children).filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b))
    return keys.map((k) => readArray(path, `${at}/vars/${k}`, g.children[k]))
  }
  return (layer, position) => {
    const at = `layers/${groups[position]}`
    if (layer.className === 'Bidirectional') return [...vars(`${at}/forward_layer/cell`), ...vars(`${at}/backward_layer/cell`)]
    if (RECURRENT[layer.className]) return vars(`${at}/cell`)
    return vars(at)
  }
}

/** The legacy HDF5 layout: `model_weights/<layer name>`, its `weight_names` attribute in Keras's order. */
function legacySource(path: string, root: H5Group): WeightSource {
  if (!groupAt(root, 'model_weights')) throw corrupt(path, 'the file has a model_config but no model_weights group')
  return (layer) => {
    const g = groupAt(root, `model_weights/${layer.name}`)
    if (!g) return []
    const names = g.attrs.weight_names
    // An empty weight_names (a layer without weights) reads back as an empty numeric array.
    const list = names === undefined || (ArrayBuffer.isView(names) && (names as Float64Array).length === 0) ? [] : Array.isArray(names) ? names : [names]
    return list.map((n) => {
      if (typeof n !== 'string') throw corrupt(path, `model_weights/${layer.name}: weight_names holds ${describe(n)}, not names`)
      return readArray(path, `model_weights/${layer.name}/${n}`, memberAt(g, n))
    })
  }
}

/** The layer chain converted: descriptions, weights, and checks of every array's shape. */
function convertChain(path: string, layers: KerasLayer[], source: WeightSource): { specs: LayerSpec[]; weights: Record<string, Tensor> } {
  const specs: LayerSpec[] = []
  const weights: Record<string, Tensor> = {}
  let input: Converted['input']
  let features = 0
  // A recurrent layer with return_sequences under a mask writes zeros at masked steps in Keras
  // (zero_output_for_mask) where lstm-native repeats the last output: the same for a layer that skips masked steps
  // (a recurrent layer, the masked mean), not for one that reads them.
  let masked = false
  let zeroedBy: KerasLayer | undefined
  let position = 0
  for (const [i, layer] of layers.entries()) {
    // The first layer may carry the input shape itself (Keras 2's batch_input_shape, Keras 3's build_config).
    if (i === 0 && layer.className !== 'InputLayer') {
      const shape = layer.config.batch_input_shape ?? layer.raw?.build_config
      const s = Array.isArray(shape) ? shape : isObject(shape) ? shape.input_shape : undefined
      if (Array.isArray(s)) input = convertLayer({ className: 'InputLayer', name: 'input', config: { batch_shape: s, dtype: layer.className === 'Embedding' ? 'int32' : 'float32' } }, 0).input
    }
    const converted = convertLayer(layer, features)
    if (layer.className === 'InputLayer') {
      if (i !== 0) throw unsupported(layer, 'an InputLayer after the first layer')
      input = converted.input
      features = converted.outFeatures
      continue
    }
    if (zeroedBy && layer.className !== 'Dropout') {
      const skips = RECURRENT[layer.className] || layer.className === 'Bidirectional' || layer.className === 'GlobalAveragePooling1D'
      if (!skips) throw unsupported(zeroedBy, `its masked output sequence (zero_output_for_mask) goes to ${layer.className} ${JSON.stringify(layer.name)}, which reads the masked steps; lstm-native repeats the last output there where Keras writes zeros`)
      zeroedBy = undefined
    }
    const spec = converted.spec
    if (spec?.type === 'embedding' && specs.length > 0) throw unsupported(layer, 'an Embedding must be the first layer')
    if (spec?.type === 'embedding') masked = spec.maskZero === true
    else if (spec && (spec.type === 'lstm' || spec.type === 'gru' || spec.type === 'simpleRnn')) {
      const inner = layer.className === 'Bidirectional' ? ((layer.config.layer as Json).config as Json) : layer.config
      if (masked && spec.returnSequences && inner.zero_output_for_mask !== false && (inner.zero_output_for_mask === true || layer.className === 'Bidirectional')) zeroedBy = layer
      masked = masked && spec.returnSequences === true
    } else if (spec && spec.type !== 'dropout') masked = false
    const arrays = source(layer, position)
    position++
    if (converted.activation === 'linear') continue
    if (converted.activation) {
      const prev = specs[specs.length - 1]
      if (!prev || (prev.type !== 'dense' && prev.type !== 'conv1d') || (prev.activation ?? 'linear') !== 'linear') {
        throw unsupported(layer, "an Activation layer is read only right after a Dense or Conv1D layer with a linear activation (it becomes that layer's activation)")
      }
      prev.activation = converted.activation
      continue
    }
    if (!spec) continue
    let shapes = converted.shapes
    if (features === 0 && arrays.length > 0 && arrays[0].shape.length >= 2) {
      // No input shape in the file: the first weighted layer's kernel says how many features it reads.
      features = arrays[0].shape[arrays[0].shape.length === 3 ? 1 : 0]
      shapes = convertLayer(layer, features).shapes
    }
    if (arrays.length !== shapes.length) {
      throw corrupt(path, `${layer.className} layer ${JSON.stringify(layer.name)} has ${arrays.length} weight arrays; its configuration needs ${shapes.length}`)
    }
    arrays.forEach((a, k) => {
      const want = shapes[k]
      if (a.shape.length !== want.length || a.shape.some((d, j) => d !== want[j])) {
        throw corrupt(path, `${layer.className} layer ${JSON.stringify(layer.name)}: weight ${k} has shape [${a.shape.join(', ')}], expected [${want.join(', ')}]`)
      }
    })
    const index = specs.length
    if (converted.convert) Object.assign(weights, converted.convert(index, arrays))
    if (index === 0 && spec.type !== 'embedding') {
      if (!features) throw unsupported(layer, 'the model has no input shape (give the Keras model an Input before saving)')
      const steps = input?.shape.length === 2 ? input.shape[0] : null
      ;(spec as { inputShape?: unknown }).inputShape = spec.type === 'dense' && input?.shape.length === 1 ? [features] : [steps, features]
    }
    specs.push(spec)
    features = converted.outFeatures
  }
  if (zeroedBy) throw unsupported(zeroedBy, 'its masked output sequence (zero_output_for_mask) is the model\'s output; lstm-native repeats the last output at masked steps where Keras writes zeros')
  if (specs.length === 0) throw unsupported({ className: 'Model', name: 'model' }, 'it has no layers')
  return { specs, weights }
}

const LOSSES: Record<string, string> = {
  binary_crossentropy: 'binaryCrossentropy',
  binarycrossentropy: 'binaryCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  sparsecategoricalcrossentropy: 'sparseCategoricalCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy',
  categoricalcrossentropy: 'categoricalCrossentropy',
  mean_squared_error: 'meanSquaredError',
  meansquarederror: 'meanSquaredError',
  mse: 'meanSquaredError',
}

function compileOf(path: string, c: Json): KerasModel['compile'] {
  let loss: unknown
  const l = Array.isArray(c.loss) && c.loss.length === 1 ? c.loss[0] : c.loss
  if (typeof l === 'string') {
    loss = LOSSES[l] ?? LOSSES[l.toLowerCase()]
  } else if (isObject(l) && typeof l.class_name === 'string') {
    const type = LOSSES[l.class_name.toLowerCase()]
    const fromLogits = isObject(l.config) && l.config.from_logits === true
    loss = type && (fromLogits ? { type, fromLogits } : type)
  }
  if (!loss) throw new LstmError('UNSUPPORTED', `${path}: the compile configuration's loss ${JSON.stringify(l)} is not one lstm-native has (binary, sparse categorical or categorical cross-entropy, mean squared error); load with { compile: false } to skip it`)
  const o = isObject(c.optimizer) ? c.optimizer : isObject(c.optimizer_config) ? c.optimizer_config : undefined
  if (!o || typeof o.class_name !== 'string' || !isObject(o.config)) throw corrupt(path, 'the compile configuration has no optimizer')
  const klass = o.class_name.replace(/^Custom>/, '')
  const oc = o.config
  const bad = (what: string) => new LstmError('UNSUPPORTED', `${path}: optimizer ${klass} ${what}; load with { compile: false } to skip the compile configuration`)
  if (typeof oc.learning_rate !== 'number') throw bad(`learning_rate ${JSON.stringify(oc.learning_rate)} (a schedule is not read; only a number)`)
  for (const key of ['weight_decay', 'global_clipnorm', 'loss_scale_factor', 'gradient_accumulation_steps']) {
    if (oc[key] !== undefined && oc[key] !== null && oc[key] !== 0) throw bad(`${key}=${JSON.stringify(oc[key])} is not implemented`)
  }
  if (oc.use_ema === true) throw bad('use_ema=True is not implemented')
  if (typeof oc.decay === 'number' && oc.decay !== 0) throw bad(`decay=${oc.decay} is not implemented`)
  const clip: Json = {}
  if (typeof oc.clipnorm === 'number') clip.clipnorm = oc.clipnorm
  if (typeof oc.clipvalue === 'number') clip.clipvalue = oc.clipvalue
  const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d)
  let optimizer: Json
  switch (klass.toLowerCase()) {
    case 'adam':
      if (oc.amsgrad === true) throw bad('amsgrad=True is not implemented')
      optimizer = { type: 'adam', learningRate: oc.learning_rate, beta1: num(oc.beta_1, 0.9), beta2: num(oc.beta_2, 0.999), epsilon: num(oc.epsilon, 1e-7), ...clip }
      break
    case 'rmsprop':
      if (oc.centered === true) throw bad('centered=True is not implemented')
      optimizer = { type: 'rmsprop', learningRate: oc.learning_rate, rho: num(oc.rho, 0.9), epsilon: num(oc.epsilon, 1e-7), momentum: num(oc.momentum, 0), ...clip }
      break
    case 'sgd':
      optimizer = { type: 'sgd', learningRate: oc.learning_rate, momentum: num(oc.momentum, 0), nesterov: oc.nesterov === true, ...clip }
      break
    default:
      throw bad('is not implemented (Adam, RMSprop and SGD are)')
  }
  const metrics: string[] = []
  const walk = (m: unknown): void => {
    if (m === null || m === undefined) return
    if (Array.isArray(m)) return m.forEach(walk)
    if (m === 'accuracy' || m === 'acc') {
      if (!metrics.includes('accuracy')) metrics.push('accuracy')
      return
    }
    throw new LstmError('UNSUPPORTED', `${path}: metric ${JSON.stringify(m)} is not implemented (only accuracy); load with { compile: false } to skip the compile configuration`)
  }
  walk(c.metrics)
  return { loss, optimizer, metrics }
}

/** Reads a `.keras` or `.h5` Keras model: its layers, weights in PyTorch's layout and compile configuration. */
export async function readKeras(path: string, options: { compile?: boolean } = {}): Promise<KerasModel> {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new LstmError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  let modelConfig: unknown
  let compileConfig: unknown
  let metadata: Record<string, unknown> | undefined
  let h5Path = resolve(path)
  let tempDir: string | undefined
  let isV3Zip = false
  if (startsWith(bytes, ZIP_MAGIC)) {
    const { unzipSync } = await import('fflate')
    let entries: Record<string, Uint8Array>
    try {
      entries = unzipSync(bytes, { filter: (f) => f.name === 'config.json' || f.name === 'model.weights.h5' || f.name === 'metadata.json' })
    } catch (err) {
      throw corrupt(path, `not a readable zip (.keras) file: ${(err as Error).message}`, err)
    }
    if (!entries['config.json'] || !entries['model.weights.h5']) throw corrupt(path, 'a .keras file holds config.json and model.weights.h5; this zip lacks them')
    const config = parseJson(path, 'config.json', new TextDecoder().decode(entries['config.json']))
    modelConfig = config
    compileConfig = isObject(config) ? config.compile_config : undefined
    if (entries['metadata.json']) {
      const meta = parseJson(path, 'metadata.json', new TextDecoder().decode(entries['metadata.json']))
      if (isObject(meta) && isObject(meta.lstm_native_metadata)) metadata = meta.lstm_native_metadata
    }
    tempDir = mkdtempSync(join(tmpdir(), 'lstm-native-keras-'))
    h5Path = join(tempDir, 'model.weights.h5')
    writeFileSync(h5Path, entries['model.weights.h5'])
    isV3Zip = true
  } else if (!startsWith(bytes, HDF5_MAGIC)) {
    throw corrupt(path, 'not a Keras file: neither a .keras zip nor an HDF5 (.h5) file')
  }
  try {
    let root: H5Group
    try {
      root = await readHdf5(h5Path)
    } catch (err) {
      if (err instanceof Hdf5Error) throw corrupt(path, `not a readable HDF5 file: ${err.message}`, err)
      throw err
    }
    if (!isV3Zip) {
      const attr = root.attrs.model_config
      if (attr === undefined) throw corrupt(path, groupAt(root, 'layers') || root.attrs.layer_names ? 'a weights-only HDF5 file (no model_config attribute): save the whole model, model.save("m.h5") or "m.keras"' : 'an HDF5 file without a Keras model_config attribute')
      modelConfig = parseJson(path, 'model_config', textOf(attr))
      if (root.attrs.training_config !== undefined) compileConfig = parseJson(path, 'training_config', textOf(root.attrs.training_config))
    }
    try {
      const { name, layers } = chainOf(path, modelConfig)
      const source = isV3Zip ? kerasV3Source(path, root, layers) : legacySource(path, root)
      const { specs, weights } = convertChain(path, layers, source)
      const compile = options.compile !== false && isObject(compileConfig) ? compileOf(path, compileConfig) : undefined
      return { name, specs, weights, compile, metadata }
    } catch (err) {
      // The configuration is the file's: a value of an unexpected kind deep inside it is a malformed file.
      if (err instanceof LstmError) throw err
      throw corrupt(path, `malformed model configuration: ${(err as Error).message}`, err)
    }
  } finally {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true })
  }
}

/** An attribute holding text: h5wasm gives a string, or bytes for some fixed-length strings. */
function textOf(v: unknown): unknown {
  return v instanceof Uint8Array ? new TextDecoder().decode(v) : v
}

// --- Writing --------------------------------------------------------------------------------------------------

const KERAS_LOSS: Record<string, string> = {
  binaryCrossentropy: 'binary_crossentropy',
  binary_crossentropy: 'binary_crossentropy',
  sparseCategoricalCrossentropy: 'sparse_categorical_crossentropy',
  sparse_categorical_crossentropy: 'sparse_categorical_crossentropy',
  categoricalCrossentropy: 'categorical_crossentropy',
  categorical_crossentropy: 'categorical_crossentropy',
  meanSquaredError: 'mean_squared_error',
  mean_squared_error: 'mean_squared_error',
  mse: 'mean_squared_error',
}
const KERAS_LOSS_CLASS: Record<string, string> = {
  binary_crossentropy: 'BinaryCrossentropy',
  sparse_categorical_crossentropy: 'SparseCategoricalCrossentropy',
  categorical_crossentropy: 'CategoricalCrossentropy',
  mean_squared_error: 'MeanSquaredError',
}

function kerasCompile(compile: NonNullable<KerasModel['compile']>): Json {
  const l = compile.loss as string | { type: string; fromLogits?: boolean }
  const lossName = KERAS_LOSS[typeof l === 'string' ? l : l.type]
  const loss = typeof l === 'object' && l.fromLogits ? { module: 'keras.losses', class_name: KERAS_LOSS_CLASS[lossName], config: { from_logits: true }, registered_name: null } : lossName
  const o = (typeof compile.optimizer === 'string' ? { type: compile.optimizer } : compile.optimizer) as Record<string, number | boolean | string | undefined>
  const type = String(o.type).replace(/[_-]/g, '').toLowerCase()
  const clip = { clipnorm: o.clipnorm ?? null, clipvalue: o.clipvalue ?? null }
  const optimizer =
    type === 'adam'
      ? { class_name: 'Adam', config: { learning_rate: o.learningRate ?? 0.001, beta_1: o.beta1 ?? 0.9, beta_2: o.beta2 ?? 0.999, epsilon: o.epsilon ?? 1e-7, ...clip } }
      : type === 'rmsprop'
        ? { class_name: 'RMSprop', config: { learning_rate: o.learningRate ?? 0.001, rho: o.rho ?? 0.9, epsilon: o.epsilon ?? 1e-7, momentum: o.momentum ?? 0, ...clip } }
        : { class_name: 'SGD', config: { learning_rate: o.learningRate ?? 0.01, momentum: o.momentum ?? 0, nesterov: o.nesterov ?? false, ...clip } }
  return { optimizer: { module: 'keras.optimizers', ...optimizer, registered_name: null }, loss, metrics: compile.metrics.length ? compile.metrics : null }
}

function layerJson(className: string, config: Json): Json {
  return { module: 'keras.layers', class_name: className, config, registered_name: null }
}

/** A spec as a Keras 3 layer config, and its weights as Keras arrays (forward direction, then backward). */
function kerasLayer(spec: LayerSpec, name: string, index: number, w: Record<string, Tensor>): { json: Json; arrays: Tensor[] } {
  const get = (n: string) => {
    const t = w[`${index}.${n}`]
    if (!t) throw new LstmError('INTERNAL', `toKeras: layer ${index} (${spec.type}) has no weight ${n}`)
    return t
  }
  switch (spec.type) {
    case 'embedding':
      return { json: layerJson('Embedding', { name, input_dim: spec.inputDim, output_dim: spec.outputDim, mask_zero: spec.maskZero === true }), arrays: [get('weight')] }
    case 'lstm':
    case 'gru':
    case 'simpleRnn': {
      const kind = spec.type
      const gates = GATES[kind]
      const order = kind === 'gru' ? GRU_ORDER : [...Array(gates).keys()]
      const config: Json = {
        name,
        units: spec.units,
        return_sequences: spec.returnSequences === true,
        dropout: spec.dropout ?? 0,
        recurrent_dropout: spec.recurrentDropout ?? 0,
        activation: kind === 'simpleRnn' ? (spec.activation ?? 'tanh') : 'tanh',
        use_bias: true,
      }
      if (kind !== 'simpleRnn') config.recurrent_activation = 'sigmoid'
      if (kind === 'lstm') config.unit_forget_bias = spec.unitForgetBias !== false
      if (kind === 'gru') config.reset_after = true
      const direction = (d: string): Tensor[] => {
        const kernel = transpose(gateRows(get(`weight_ih${d}`), gates, order))
        const recurrent = transpose(gateRows(get(`weight_hh${d}`), gates, order))
        const bi = gateRows(get(`bias_ih${d}`), gates, order)
        const bh = gateRows(get(`bias_hh${d}`), gates, order)
        const n = bi.data.length
        if (kind === 'gru') {
          const both = new Float32Array(2 * n)
          both.set(bi.data, 0)
          both.set(bh.data, n)
          return [kernel, recurrent, tensor(both, [2, n])]
        }
        // Keras has one bias where PyTorch adds two: their sum is what the cell uses.
        return [kernel, recurrent, tensor(bi.data.map((v, k) => v + bh.data[k]), [n])]
      }
      const klass = KERAS_CLASS[kind]
      if (!spec.bidirectional) return { json: layerJson(klass, config), arrays: direction('') }
      return {
        json: layerJson('Bidirectional', { name, merge_mode: 'concat', layer: layerJson(klass, { ...config, name: `forward_${name}` }) }),
        arrays: [...direction(''), ...direction('_reverse')],
      }
    }
    case 'conv1d': {
      const weight = get('weight')
      const [f, ch, k] = weight.shape
      const kernel = new Float32Array(weight.data.length)
      for (let a = 0; a < k; a++) for (let b = 0; b < ch; b++) for (let o = 0; o < f; o++) kernel[(a * ch + b) * f + o] = weight.data[(o * ch + b) * k + a]
      const config = { name, filters: spec.filters, kernel_size: [spec.kernelSize], strides: [spec.strides ?? 1], padding: spec.padding ?? 'valid', dilation_rate: [spec.dilationRate ?? 1], activation: spec.activation ?? 'linear', use_bias: true, data_format: 'channels_last' }
      return { json: layerJson('Conv1D', config), arrays: [tensor(kernel, [k, ch, f]), get('bias')] }
    }
    case 'maxPooling1d': {
      const pool = spec.poolSize ?? 2
      return { json: layerJson('MaxPooling1D', { name, pool_size: pool, strides: spec.strides ?? pool, padding: spec.padding ?? 'valid', data_format: 'channels_last' }), arrays: [] }
    }
    case 'dense':
      return { json: layerJson('Dense', { name, units: spec.units, activation: spec.activation ?? 'linear', use_bias: true }), arrays: [transpose(get('weight')), get('bias')] }
    case 'dropout':
      return { json: layerJson('Dropout', { name, rate: spec.rate }), arrays: [] }
    case 'globalAveragePooling1d':
    case 'globalMaxPooling1d':
      return { json: layerJson(KERAS_CLASS[spec.type], { name, data_format: 'channels_last', keepdims: false }), arrays: [] }
  }
}

/** The input shape Keras needs to build the model, from the first layer (its `inputShape`, else its weights). */
function batchShape(specs: LayerSpec[], w: Record<string, Tensor>): { shape: (number | null)[]; dtype: string } {
  const first = specs[0]
  if (first.type === 'embedding') return { shape: [null, null], dtype: 'int32' }
  const given = (first as { inputShape?: (number | null)[] }).inputShape
  if (given) return { shape: [null, ...given], dtype: 'float32' }
  const weight = w['0.weight_ih'] ?? w['0.weight']
  const features = first.type === 'conv1d' ? weight?.shape[1] : weight?.shape[weight.shape.length - 1]
  if (!features) throw new LstmError('INVALID_ARGUMENT', `toKeras: the first layer (${first.type}) has no input shape yet; give it inputShape`)
  return { shape: first.type === 'dense' ? [null, features] : [null, null, features], dtype: 'float32' }
}

/** Writes a Keras 3 `.keras` file (config.json, metadata.json, model.weights.h5) atomically. */
export async function writeKeras(path: string, model: KerasModel): Promise<void> {
  if (extname(path).toLowerCase() !== '.keras') throw new LstmError('INVALID_ARGUMENT', `toKeras(): Keras 3 opens a model only from a .keras file, got ${JSON.stringify(path)}`)
  checkOutputPath(path, 'toKeras()')
  const names = kerasGroupNames(model.specs.map((s) => ((s as { bidirectional?: boolean }).bidirectional ? 'Bidirectional' : KERAS_CLASS[s.type])))
  const layers = model.specs.map((s, i) => kerasLayer(s, names[i], i, model.weights))
  const input = batchShape(model.specs, model.weights)
  const config: Json = {
    module: 'keras',
    class_name: 'Sequential',
    config: {
      name: model.name,
      trainable: true,
      layers: [layerJson('InputLayer', { batch_shape: input.shape, dtype: input.dtype, name: 'input_layer' }), ...layers.map((l) => l.json)],
    },
    registered_name: null,
    build_config: { input_shape: input.shape },
  }
  if (model.compile) {
    config.compile_config = kerasCompile(model.compile)
  }
  const { zipSync } = await import('fflate')
  const tempDir = mkdtempSync(join(tmpdir(), 'lstm-native-keras-'))
  const target = resolve(path)
  const partial = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const h5Path = join(tempDir, 'model.weights.h5')
    // Keras 3's layout: every layer's group has a `vars` group (empty when the layer has no weights); an RNN's
    // arrays are its cell's, and a Bidirectional's are its forward and backward layers' cells'.
    const group = (children: Record<string, H5Node> = {}): H5Group => ({ attrs: {}, children })
    const vars = (arrays: Tensor[]): H5Group => group(Object.fromEntries(arrays.map((a, k) => [String(k), { shape: [...a.shape], value: a.data }])))
    const layerGroups: Record<string, H5Node> = {}
    model.specs.forEach((s, i) => {
      const arrays = layers[i].arrays
      const recurrent = s.type === 'lstm' || s.type === 'gru' || s.type === 'simpleRnn'
      const rnn = (part: Tensor[]) => group({ vars: vars([]), cell: group({ vars: vars(part) }) })
      if (recurrent && s.bidirectional) {
        const half = arrays.length / 2
        layerGroups[names[i]] = group({ vars: vars([]), forward_layer: rnn(arrays.slice(0, half)), backward_layer: rnn(arrays.slice(half)) })
      } else if (recurrent) layerGroups[names[i]] = rnn(arrays)
      else layerGroups[names[i]] = group({ vars: vars(arrays) })
    })
    await writeHdf5(h5Path, group({ layers: group(layerGroups), vars: vars([]) }))
    const weights = readFileSync(h5Path)
    const metadata: Json = { keras_version: '3.0.0', date_saved: new Date().toISOString(), lstm_native_metadata: model.metadata ?? {} }
    const encoder = new TextEncoder()
    const zip = zipSync({ 'metadata.json': encoder.encode(JSON.stringify(metadata)), 'config.json': encoder.encode(JSON.stringify(config)), 'model.weights.h5': new Uint8Array(weights) })
    writeFileSync(partial, zip)
    renameSync(partial, target)
  } catch (err) {
    rmSync(partial, { force: true })
    if (err instanceof LstmError) throw err
    throw new LstmError('IO', `toKeras(): cannot write ${path}: ${(err as Error).message}`, { cause: err })
  } finally {
    rmSync(tempDir, { recursive: true, force: true })
  }
}
