/**
 * Layer factories, shaped like tfjs-layers: each takes a documented config object, checks it at once (throwing
 * `INVALID_CONFIG` synchronously) and returns a plain description that the Rust core builds.
 */
import { LstmError } from './errors.js'

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
  if (typeof config !== 'object' || config === null || Array.isArray(config)) bad(layer, `expected a config object, got ${String(config)}`)
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) bad(layer, `unknown option ${JSON.stringify(key)}; expected one of ${known.join(', ')}`)
  }
  return config as Record<string, unknown>
}

function positiveInt(layer: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(layer, `${name} must be a positive integer, got ${String(v)}`)
  return v
}

function rate(layer: string, name: string, v: unknown): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) bad(layer, `${name} must be a number in [0, 1), got ${String(v)}`)
}

function bool(layer: string, name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') bad(layer, `${name} must be true or false, got ${String(v)}`)
}

const INITIALIZERS = ['glorotuniform', 'glorotnormal', 'heuniform', 'henormal', 'lecununiform', 'orthogonal', 'zeros', 'ones', 'constant', 'randomnormal', 'normal', 'randomuniform', 'uniform']

function initializer(layer: string, name: string, v: unknown): void {
  if (v === undefined) return
  const kind = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined
  if (typeof kind !== 'string' || !INITIALIZERS.includes(kind.replace(/[_-]/g, '').toLowerCase())) {
    bad(layer, `${name}: unknown initializer ${JSON.stringify(v)}`)
  }
}

function inputShape(layer: string, v: unknown): void {
  if (v === undefined) return
  const ok =
    Array.isArray(v) &&
    (v.length === 1 || v.length === 2) &&
    Number.isInteger(v[v.length - 1]) &&
    v[v.length - 1] >= 1 &&
    (v.length === 1 || v[0] === null || (Number.isInteger(v[0]) && v[0] >= 1))
  if (!ok) bad(layer, `inputShape must be [timesteps, features] or [features], got ${JSON.stringify(v)}`)
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
export function globalAveragePooling1d(config: GlobalPoolingConfig = {}): LayerSpec {
  return globalPooling('globalAveragePooling1d', config)
}

/** The maximum over time, `[B, T, F]` → `[B, F]`, over every step: like Keras's GlobalMaxPooling1D, it ignores the mask. */
export function globalMaxPooling1d(config: GlobalPoolingConfig = {}): LayerSpec {
  return globalPooling('globalMaxPooling1d', config)
}
