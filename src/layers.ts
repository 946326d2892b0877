/**
 * Layer factories, shaped like tfjs-layers: each takes a documented config object, checks it at once (throwing
 * `INVALID_CONFIG` synchronously) and returns a plain description that the Rust core builds.
 */
import { LstmError } from './errors.js'
import { checkInt, describe, INT32_MAX } from './validate.js'

/** An initializer by name (`'glorotUniform'` or `'glorot_uniform'`), or with parameters. */
export type InitializerName =
  | 'glorotUniform'
  | 'glorotNormal'
  | 'heUniform'
  | 'heNormal'
  | 'lecunUniform'
  | 'orthogonal'
  | 'zeros'
  | 'ones'
  | 'randomNormal'
  | 'randomUniform'
  | 'glorot_uniform'
  | 'glorot_normal'
  | 'he_uniform'
  | 'he_normal'
  | 'lecun_uniform'
  | 'random_normal'
  | 'random_uniform'
/** How a weight starts: an initializer by name (with Keras's defaults), or one of the forms with parameters. */
export type Initializer =
  | InitializerName
  | {
      /** Normal distribution. */
      type: 'randomNormal' | 'random_normal'
      /** Default 0. */
      mean?: number
      /** Default 0.05. */
      stddev?: number
    }
  | {
      /** Uniform distribution. */
      type: 'randomUniform' | 'random_uniform'
      /** Default -0.05. */
      minval?: number
      /** Default 0.05. */
      maxval?: number
    }
  | {
      /** A (semi-)orthogonal matrix. */
      type: 'orthogonal'
      /** Multiplies the matrix. Default 1. */
      gain?: number
    }
  | {
      /** Every element the same. */
      type: 'constant'
      /** The value. */
      value: number
    }

/** The activation of a dense layer, applied to its output. */
export type Activation = 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax'
const ACTIVATIONS: readonly Activation[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax']

/** `[timesteps, features]` (timesteps may be null: any length) or `[features]`. */
export type InputShape = [number | null, number] | [number]

/** Config of {@link embedding}. */
export interface EmbeddingConfig {
  /** Vocabulary size: token ids must lie in `[0, inputDim)`. */
  inputDim: number
  /** Size of each embedding vector. */
  outputDim: number
  /** Treat id 0 as padding: later layers skip it (Keras semantics). Default `false`. */
  maskZero?: boolean
  /** Default `randomUniform` in [-0.05, 0.05], as Keras. */
  embeddingsInitializer?: Initializer
}

/** Config of {@link lstm}. */
export interface LstmConfig {
  /** Size of the hidden state. */
  units: number
  /** Output the whole sequence `[B, T, units]` rather than the last state `[B, units]`. Default `false`. */
  returnSequences?: boolean
  /** Fraction of the inputs dropped in training; one mask per sequence (one per gate with `recurrentDropout`, as Keras). Default `0`. */
  dropout?: number
  /** Fraction of the recurrent state dropped in training; one mask per sequence and gate, as Keras. Default `0`. */
  recurrentDropout?: number
  /** Also read the sequence backwards and concatenate both directions. Default `false`. */
  bidirectional?: boolean
  /** Start the forget gate's bias at 1, as Keras. Default `true`. */
  unitForgetBias?: boolean
  /** `weight_ih`. Default `glorotUniform`. */
  kernelInitializer?: Initializer
  /** `weight_hh`. Default `orthogonal`. */
  recurrentInitializer?: Initializer
  /** Default `zeros`. */
  biasInitializer?: Initializer
  /** When this is the first layer: `[timesteps, features]`, so the weights are built at once. */
  inputShape?: InputShape
}

/** Config of {@link dense}. */
export interface DenseConfig {
  /** Output size. */
  units: number
  /** Default `linear`. */
  activation?: Activation
  /** Default `glorotUniform`. */
  kernelInitializer?: Initializer
  /** Default `zeros`. */
  biasInitializer?: Initializer
  /** When this is the first layer: `[features]` or `[timesteps, features]`. */
  inputShape?: InputShape
}

/** Config of {@link dropout}. */
export interface DropoutConfig {
  /** Fraction of the inputs dropped in training, in [0, 1). */
  rate: number
  /** When this is the first layer: `[timesteps, features]` or `[features]`. */
  inputShape?: InputShape
}

/** Config of {@link globalAveragePooling1d} and {@link globalMaxPooling1d}. */
export interface GlobalPoolingConfig {
  /** When this is the first layer: `[timesteps, features]`. */
  inputShape?: [number | null, number]
}

/** The options GRU and SimpleRNN share. */
export interface RecurrentConfig {
  /** Size of the hidden state. */
  units: number
  /** Output the whole sequence `[B, T, units]` rather than the last state `[B, units]`. Default `false`. */
  returnSequences?: boolean
  /** Fraction of the inputs dropped in training; one mask per sequence (one per gate with `recurrentDropout`, as Keras). Default `0`. */
  dropout?: number
  /** Fraction of the recurrent state dropped in training; one mask per sequence (and gate, for a GRU), as Keras. Default `0`. */
  recurrentDropout?: number
  /** Also read the sequence backwards and concatenate both directions (parameters `*_reverse`). Default `false`. */
  bidirectional?: boolean
  /** `weight_ih`. Default `glorotUniform`. */
  kernelInitializer?: Initializer
  /** `weight_hh`. Default `orthogonal`. */
  recurrentInitializer?: Initializer
  /** `bias_ih` and `bias_hh`. Default `zeros`. */
  biasInitializer?: Initializer
  /** When this is the first layer: `[timesteps, features]`, so the weights are built at once. */
  inputShape?: [number | null, number]
}

/** A GRU's options (Keras's GRU with `reset_after=True`, which is PyTorch's GRU). */
export type GruConfig = RecurrentConfig

/** A SimpleRNN's options. */
export interface SimpleRnnConfig extends RecurrentConfig {
  /** `tanh`, `relu`, `sigmoid` or `linear`. Default `tanh`. */
  activation?: Exclude<Activation, 'softmax'>
}

/** How a convolution or pooling pads the time axis, by Keras's rules. */
export type Padding = 'valid' | 'same' | 'causal'

/** A Conv1D's options, on `[B, T, channels]` (channels last, as Keras). */
export interface Conv1dConfig {
  /** Output channels. */
  filters: number
  /** Window length in steps. */
  kernelSize: number
  /** Step between windows. Default `1`. */
  strides?: number
  /**
   * `valid` (default): windows inside the sequence; `same`: `ceil(T / strides)` outputs, zero padding with the smaller
   * half on the left; `causal`: `dilationRate·(kernelSize − 1)` zeros on the left, so no output reads a later step.
   */
  padding?: Padding
  /** Spacing of the window's taps. Default `1`; above 1 only with `strides: 1` (as Keras). */
  dilationRate?: number
  /** Default `linear`. */
  activation?: Activation
  /** `weight` `[filters, channels, kernelSize]`. Default `glorotUniform` (Keras's fans). */
  kernelInitializer?: Initializer
  /** Default `zeros`. */
  biasInitializer?: Initializer
  /** When this is the first layer: `[timesteps, channels]`. */
  inputShape?: [number | null, number]
}

/** A MaxPooling1D's options (Keras's). */
export interface MaxPooling1dConfig {
  /** Window length in steps. Default `2`. */
  poolSize?: number
  /** Step between windows. Default `poolSize`. */
  strides?: number
  /** `valid` (default) or `same` (`ceil(T / strides)` outputs; padded steps never win). */
  padding?: 'valid' | 'same'
  /** When this is the first layer: `[timesteps, features]`. */
  inputShape?: [number | null, number]
}

/**
 * A layer as the factories return it: its `type` and its config. The Rust core builds the layers from these, and
 * `save` writes them into the model file.
 */
export type LayerSpec =
  | ({
      /** The layer's kind. */
      type: 'embedding'
    } & EmbeddingConfig)
  | ({
      /** The layer's kind. */
      type: 'lstm'
    } & LstmConfig)
  | ({
      /** The layer's kind. */
      type: 'gru'
    } & GruConfig)
  | ({
      /** The layer's kind. */
      type: 'simpleRnn'
    } & SimpleRnnConfig)
  | ({
      /** The layer's kind. */
      type: 'conv1d'
    } & Conv1dConfig)
  | ({
      /** The layer's kind. */
      type: 'maxPooling1d'
    } & MaxPooling1dConfig)
  | ({
      /** The layer's kind. */
      type: 'dense'
    } & DenseConfig)
  | ({
      /** The layer's kind. */
      type: 'dropout'
    } & DropoutConfig)
  | ({
      /** The layer's kind. */
      type: 'globalAveragePooling1d'
    } & GlobalPoolingConfig)
  | ({
      /** The layer's kind. */
      type: 'globalMaxPooling1d'
    } & GlobalPoolingConfig)

function bad(layer: string, message: string): never {
  throw new LstmError('INVALID_CONFIG', `${layer}: ${message}`)
}

function checkObject(layer: string, config: unknown, known: readonly string[]): Record<string, unknown> {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) bad(layer, `expected a config object, got ${describe(config)}`)
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) bad(layer, `unknown option ${JSON.stringify(key)}; expected one of ${known.join(', ')}`)
  }
  return config as Record<string, unknown>
}

/** A size or count: 1 to 2³¹ − 1, as every integer of the API. */
function positiveInt(layer: string, name: string, v: unknown): number {
  return checkInt(`${layer}: ${name}`, v, 1, INT32_MAX, 'INVALID_CONFIG')
}

function rate(layer: string, name: string, v: unknown): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) bad(layer, `${name} must be a number in [0, 1), got ${describe(v)}`)
}

function bool(layer: string, name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') bad(layer, `${name} must be true or false, got ${describe(v)}`)
}

const INITIALIZERS = ['glorotuniform', 'glorotnormal', 'heuniform', 'henormal', 'lecununiform', 'orthogonal', 'zeros', 'ones', 'constant', 'randomnormal', 'normal', 'randomuniform', 'uniform']

/** The parameters each initializer takes in its object form, and which of them it needs. */
const INITIALIZER_PARAMS: Record<string, { keys: readonly string[]; required?: string }> = {
  orthogonal: { keys: ['gain'] },
  constant: { keys: ['value'], required: 'value' },
  randomnormal: { keys: ['mean', 'stddev'] },
  normal: { keys: ['mean', 'stddev'] },
  randomuniform: { keys: ['minval', 'maxval'] },
  uniform: { keys: ['minval', 'maxval'] },
}

/**
 * An initializer, by name or as an object whose parameters are all checked here: JSON would turn NaN and Infinity
 * into null, which the core reads as "the default", and a misspelt key would silently keep the default.
 */
function initializer(layer: string, name: string, v: unknown): void {
  if (v === undefined) return
  const kind = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined
  const key = typeof kind === 'string' ? kind.replace(/[_-]/g, '').toLowerCase() : ''
  if (!INITIALIZERS.includes(key)) bad(layer, `${name}: unknown initializer ${describe(typeof v === 'object' ? kind : v)}`)
  if (typeof v !== 'object' || v === null) return
  const params = INITIALIZER_PARAMS[key] ?? { keys: [] }
  const what = `${name} ${JSON.stringify(kind)}`
  for (const [k, value] of Object.entries(v)) {
    if (k === 'type' || value === undefined) continue
    if (!params.keys.includes(k)) bad(layer, `${what}: unknown option ${JSON.stringify(k)}; expected ${params.keys.length ? `one of ${params.keys.join(', ')}` : 'none'}`)
    if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > 3.4e38) bad(layer, `${what}: ${k} must be a finite float32 number, got ${describe(value)}`)
  }
  const o = v as Record<string, number | undefined>
  if (params.required !== undefined && o[params.required] === undefined) bad(layer, `${what}: ${params.required} is required`)
  if (o.stddev !== undefined && o.stddev < 0) bad(layer, `${what}: stddev must be ≥ 0, got ${o.stddev}`)
  if ((o.minval ?? -0.05) > (o.maxval ?? 0.05)) bad(layer, `${what}: minval ${o.minval ?? -0.05} must not exceed maxval ${o.maxval ?? 0.05}`)
}

function inputShape(layer: string, v: unknown): void {
  if (v === undefined) return
  const dim = (d: unknown) => Number.isInteger(d) && (d as number) >= 1 && (d as number) <= INT32_MAX
  const ok = Array.isArray(v) && (v.length === 1 || v.length === 2) && dim(v[v.length - 1]) && (v.length === 1 || v[0] === null || dim(v[0]))
  if (!ok) bad(layer, `inputShape must be [timesteps, features] or [features] (positive integers up to ${INT32_MAX}; timesteps may be null), got ${describe(v)}`)
}

/** Token ids `[B, T]` → vectors `[B, T, outputDim]`. */
export function embedding(config: EmbeddingConfig): LayerSpec {
  const c = checkObject('embedding', config, ['inputDim', 'outputDim', 'maskZero', 'embeddingsInitializer'])
  positiveInt('embedding', 'inputDim', c.inputDim)
  positiveInt('embedding', 'outputDim', c.outputDim)
  bool('embedding', 'maskZero', c.maskZero)
  initializer('embedding', 'embeddingsInitializer', c.embeddingsInitializer)
  return { type: 'embedding', ...config }
}

/** A long short-term memory layer (PyTorch gate order i, f, g, o; Keras defaults). */
export function lstm(config: LstmConfig): LayerSpec {
  const keys = ['units', 'returnSequences', 'dropout', 'recurrentDropout', 'bidirectional', 'unitForgetBias', 'kernelInitializer', 'recurrentInitializer', 'biasInitializer', 'inputShape']
  const c = checkObject('lstm', config, keys)
  positiveInt('lstm', 'units', c.units)
  bool('lstm', 'returnSequences', c.returnSequences)
  bool('lstm', 'bidirectional', c.bidirectional)
  bool('lstm', 'unitForgetBias', c.unitForgetBias)
  rate('lstm', 'dropout', c.dropout)
  rate('lstm', 'recurrentDropout', c.recurrentDropout)
  initializer('lstm', 'kernelInitializer', c.kernelInitializer)
  initializer('lstm', 'recurrentInitializer', c.recurrentInitializer)
  initializer('lstm', 'biasInitializer', c.biasInitializer)
  inputShape('lstm', c.inputShape)
  if (Array.isArray(c.inputShape) && c.inputShape.length !== 2) bad('lstm', `inputShape must be [timesteps, features], got ${JSON.stringify(c.inputShape)}`)
  return { type: 'lstm', ...config }
}

/** A fully connected layer on the last axis. */
export function dense(config: DenseConfig): LayerSpec {
  const c = checkObject('dense', config, ['units', 'activation', 'kernelInitializer', 'biasInitializer', 'inputShape'])
  positiveInt('dense', 'units', c.units)
  if (c.activation !== undefined && !ACTIVATIONS.includes(c.activation as Activation)) {
    bad('dense', `unknown activation ${JSON.stringify(c.activation)}; expected one of ${ACTIVATIONS.join(', ')}`)
  }
  initializer('dense', 'kernelInitializer', c.kernelInitializer)
  initializer('dense', 'biasInitializer', c.biasInitializer)
  inputShape('dense', c.inputShape)
  return { type: 'dense', ...config }
}

/** Inverted dropout, active only in training. */
export function dropout(config: DropoutConfig): LayerSpec {
  const c = checkObject('dropout', config, ['rate', 'inputShape'])
  if (c.rate === undefined) bad('dropout', 'rate is required')
  rate('dropout', 'rate', c.rate)
  inputShape('dropout', c.inputShape)
  return { type: 'dropout', ...config }
}

function globalPooling(type: 'globalAveragePooling1d' | 'globalMaxPooling1d', config: GlobalPoolingConfig): LayerSpec {
  const c = checkObject(type, config, ['inputShape'])
  inputShape(type, c.inputShape)
  if (Array.isArray(c.inputShape) && c.inputShape.length !== 2) bad(type, `inputShape must be [timesteps, features], got ${JSON.stringify(c.inputShape)}`)
  return { type, ...config }
}

/**
 * The mean over time, `[B, T, F]` → `[B, F]`, over the steps the mask keeps (Keras's GlobalAveragePooling1D). After an
 * LSTM with `returnSequences: true` it lets a classifier read every step, not only the last state.
 */
export function globalAveragePooling1d(config?: GlobalPoolingConfig | null): LayerSpec {
  return globalPooling('globalAveragePooling1d', config ?? {})
}

/** The maximum over time, `[B, T, F]` → `[B, F]`, over every step: like Keras's GlobalMaxPooling1D, it ignores the mask. */
export function globalMaxPooling1d(config?: GlobalPoolingConfig | null): LayerSpec {
  return globalPooling('globalMaxPooling1d', config ?? {})
}

function sequenceInputShape(layer: string, v: unknown): void {
  inputShape(layer, v)
  if (Array.isArray(v) && v.length !== 2) bad(layer, `inputShape must be [timesteps, features], got ${JSON.stringify(v)}`)
}

function recurrent(layer: 'gru' | 'simpleRnn', config: unknown, extra: readonly string[]): Record<string, unknown> {
  const keys = ['units', 'returnSequences', 'dropout', 'recurrentDropout', 'bidirectional', 'kernelInitializer', 'recurrentInitializer', 'biasInitializer', 'inputShape', ...extra]
  const c = checkObject(layer, config, keys)
  positiveInt(layer, 'units', c.units)
  bool(layer, 'returnSequences', c.returnSequences)
  bool(layer, 'bidirectional', c.bidirectional)
  rate(layer, 'dropout', c.dropout)
  rate(layer, 'recurrentDropout', c.recurrentDropout)
  initializer(layer, 'kernelInitializer', c.kernelInitializer)
  initializer(layer, 'recurrentInitializer', c.recurrentInitializer)
  initializer(layer, 'biasInitializer', c.biasInitializer)
  sequenceInputShape(layer, c.inputShape)
  return c
}

/**
 * A gated recurrent unit: Keras's GRU with `resetAfter: true` (its default), which is PyTorch's `nn.GRU`. Gates r, z, n
 * in PyTorch's order: `weight_ih` `[3·units, in]`, `weight_hh` `[3·units, units]`, `bias_ih`, `bias_hh` `[3·units]`.
 * With `maskZero` a masked step keeps the state and repeats the previous output, as the LSTM.
 */
export function gru(config: GruConfig): LayerSpec {
  recurrent('gru', config, [])
  return { type: 'gru', ...config }
}

/** A fully connected recurrent layer, `h' = activation(W_ih x + b_ih + W_hh h + b_hh)` (Keras's SimpleRNN, PyTorch's `nn.RNN` names). */
export function simpleRnn(config: SimpleRnnConfig): LayerSpec {
  const c = recurrent('simpleRnn', config, ['activation'])
  const allowed = ['tanh', 'relu', 'sigmoid', 'linear']
  if (c.activation !== undefined && !allowed.includes(c.activation as string)) {
    bad('simpleRnn', `activation must be one of ${allowed.join(', ')}, got ${JSON.stringify(c.activation)}`)
  }
  return { type: 'simpleRnn', ...config }
}

function padding(layer: string, v: unknown, allowed: readonly string[]): void {
  if (v !== undefined && !allowed.includes(v as string)) bad(layer, `padding must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`)
}

/**
 * A 1-D convolution over time on `[B, T, channels]` (channels last, as Keras) → `[B, T', filters]`; `weight`
 * `[filters, channels, kernelSize]` and `bias` `[filters]` as PyTorch's Conv1d. It does not carry a mask: after an
 * `embedding({ maskZero: true })` the mask is dropped, as in Keras.
 */
export function conv1d(config: Conv1dConfig): LayerSpec {
  const layer = 'conv1d'
  const c = checkObject(layer, config, ['filters', 'kernelSize', 'strides', 'padding', 'dilationRate', 'activation', 'kernelInitializer', 'biasInitializer', 'inputShape'])
  positiveInt(layer, 'filters', c.filters)
  positiveInt(layer, 'kernelSize', c.kernelSize)
  if (c.strides !== undefined) positiveInt(layer, 'strides', c.strides)
  if (c.dilationRate !== undefined) positiveInt(layer, 'dilationRate', c.dilationRate)
  if ((c.strides ?? 1) !== 1 && (c.dilationRate ?? 1) !== 1) {
    bad(layer, `strides must be 1 when dilationRate > 1 (as Keras), got strides ${String(c.strides)} and dilationRate ${String(c.dilationRate)}`)
  }
  padding(layer, c.padding, ['valid', 'same', 'causal'])
  if (c.activation !== undefined && !ACTIVATIONS.includes(c.activation as Activation)) {
    bad(layer, `unknown activation ${JSON.stringify(c.activation)}; expected one of ${ACTIVATIONS.join(', ')}`)
  }
  initializer(layer, 'kernelInitializer', c.kernelInitializer)
  initializer(layer, 'biasInitializer', c.biasInitializer)
  sequenceInputShape(layer, c.inputShape)
  return { type: 'conv1d', ...config }
}

/** The maximum of each channel over windows of `poolSize` steps (Keras's MaxPooling1D). It does not carry a mask. */
export function maxPooling1d(config?: MaxPooling1dConfig | null): LayerSpec {
  const layer = 'maxPooling1d'
  const c = checkObject(layer, config ?? {}, ['poolSize', 'strides', 'padding', 'inputShape'])
  if (c.poolSize !== undefined) positiveInt(layer, 'poolSize', c.poolSize)
  if (c.strides !== undefined) positiveInt(layer, 'strides', c.strides)
  padding(layer, c.padding, ['valid', 'same'])
  sequenceInputShape(layer, c.inputShape)
  return { type: 'maxPooling1d', ...config }
}
