/**
 * Scalers for numeric features, as scikit-learn's StandardScaler and MinMaxScaler: fitted on the training span only,
 * per feature (the last axis), and serialisable so that a model's metadata carries them to `predict`.
 */
import { LstmError } from './errors.js'
import { checkedTensor, isTensor, type Tensor, tensor } from './tensor.js'
import { checkInt, describe, optionsOf } from './validate.js'

/** What a fitted scaler saves: per feature, `x' = (x - offset) / scale`. */
export interface ScalerState {
  /** `'standard'` (mean and population standard deviation) or `'minMax'` (to [0, 1]). */
  kind: 'standard' | 'minMax'
  /** Subtracted from each feature: its mean, or its minimum. */
  offset: number[]
  /** Divides each feature: its standard deviation, or its range (1 where the feature is constant). */
  scale: number[]
}

/** The rows of the data that {@link Scaler.fit} reads: the training span. */
export interface FitRange {
  /** First row. Default 0. */
  start?: number
  /** One past the last row. Default: every row. */
  end?: number
}

/** A per-feature affine scaler; the data is a `Float32Array` (one feature) or a float32 Tensor whose last axis is the features. */
export interface Scaler {
  /** `'standard'` or `'minMax'`. */
  readonly kind: 'standard' | 'minMax'
  /** Whether `fit` (or {@link scalerFromJson}) has set the statistics. */
  readonly fitted: boolean
  /** Learns each feature's statistics from rows `[start, end)` (the training span only); a NaN there is `NON_FINITE`. */
  fit(data: Float32Array | Tensor, range?: FitRange | null): this
  /** Scaled copy of the data, of the same kind and shape. */
  transform<T extends Float32Array | Tensor>(data: T): T
  /** The inverse of `transform`: raw units from scaled values. */
  inverseTransform<T extends Float32Array | Tensor>(data: T): T
  /** The fitted statistics, for a model's metadata. */
  toJSON(): ScalerState
}

function matrix(data: Float32Array | Tensor, what: string): { values: Float32Array; f: number; shape?: readonly number[] } {
  if (data instanceof Float32Array) return { values: data, f: 1 }
  if (!isTensor(data)) throw new LstmError('INVALID_ARGUMENT', `${what} takes a Float32Array or a float32 Tensor, got ${describe(data)}`)
  const t = checkedTensor(data, what)
  if (!(t.data instanceof Float32Array)) throw new LstmError('INVALID_ARGUMENT', `${what} takes float32 data, got an ${t.dtype} tensor`)
  if (t.shape.length === 0) throw new LstmError('SHAPE_MISMATCH', `${what}: a scalar tensor has no feature axis`)
  return { values: t.data, f: t.shape.length === 1 ? 1 : t.shape[t.shape.length - 1], shape: t.shape }
}

class AffineScaler implements Scaler {
  private state?: ScalerState
  constructor(readonly kind: 'standard' | 'minMax') {}

  get fitted(): boolean {
    return this.state !== undefined
  }

  fit(data: Float32Array | Tensor, range?: FitRange | null): this {
    const { values, f } = matrix(data, `${this.kind}Scaler.fit()`)
    const rows = values.length / f
    const r = optionsOf(`${this.kind}Scaler.fit()`, range)
    const start = checkInt(`${this.kind}Scaler.fit(): start`, r.start ?? 0, 0, Math.max(rows - 1, 0))
    const end = checkInt(`${this.kind}Scaler.fit(): end (with start ${start})`, r.end ?? rows, start + 1, rows)
    const offset: number[] = []
    const scale: number[] = []
    for (let c = 0; c < f; c++) {
      let sum = 0
      let lo = Infinity
      let hi = -Infinity
      for (let i = start; i < end; i++) {
        const v = values[i * f + c]
        if (!Number.isFinite(v)) throw new LstmError('NON_FINITE', `${this.kind}Scaler.fit(): non-finite value ${v} at row ${i}${f > 1 ? `, feature ${c}` : ''}; fill missing values first (timeseries.fillMissing)`)
        sum += v
        if (v < lo) lo = v
        if (v > hi) hi = v
      }
      if (this.kind === 'minMax') {
        offset.push(lo)
        scale.push(hi > lo ? hi - lo : 1)
        continue
      }
      const mean = sum / (end - start)
      let ss = 0
      for (let i = start; i < end; i++) ss += (values[i * f + c] - mean) ** 2
      const sd = Math.sqrt(ss / (end - start))
      offset.push(mean)
      // A constant feature is centred and left unscaled, as scikit-learn does, rather than divided by zero.
      scale.push(sd > 0 ? sd : 1)
    }
    this.state = { kind: this.kind, offset, scale }
    return this
  }

  private apply<T extends Float32Array | Tensor>(data: T, what: string, forward: boolean): T {
    if (!this.state) throw new LstmError('INVALID_ARGUMENT', `${this.kind}Scaler.${what}() before fit(): fit it on the training span first`)
    const { values, f, shape } = matrix(data, `${this.kind}Scaler.${what}()`)
    const { offset, scale } = this.state
    if (f !== offset.length) throw new LstmError('SHAPE_MISMATCH', `${this.kind}Scaler.${what}(): the scaler was fitted on ${offset.length} feature(s), got ${f}`)
    const out = new Float32Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const c = i % f
      out[i] = forward ? (values[i] - offset[c]) / scale[c] : values[i] * scale[c] + offset[c]
    }
    return (shape ? tensor(out, shape) : out) as T
  }

  transform<T extends Float32Array | Tensor>(data: T): T {
    return this.apply(data, 'transform', true)
  }

  inverseTransform<T extends Float32Array | Tensor>(data: T): T {
    return this.apply(data, 'inverseTransform', false)
  }

  toJSON(): ScalerState {
    if (!this.state) throw new LstmError('INVALID_ARGUMENT', `${this.kind}Scaler.toJSON() before fit(): there is nothing to save`)
    return { kind: this.state.kind, offset: [...this.state.offset], scale: [...this.state.scale] }
  }

  restore(state: ScalerState): this {
    this.state = state
    return this
  }
}

/** Standardises each feature to mean 0 and standard deviation 1 (population deviation, as numpy and scikit-learn). */
export function standardScaler(): Scaler {
  return new AffineScaler('standard')
}

/** Maps each feature's training range to [0, 1]. */
export function minMaxScaler(): Scaler {
  return new AffineScaler('minMax')
}

/** A fitted scaler from {@link Scaler.toJSON}'s state (as saved in a model's metadata); a malformed state is `INVALID_ARGUMENT`. */
export function scalerFromJson(state: ScalerState): Scaler {
  const s = state as Partial<ScalerState> | null
  const finiteList = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x))
  if (typeof s !== 'object' || s === null || (s.kind !== 'standard' && s.kind !== 'minMax') || !finiteList(s.offset) || !finiteList(s.scale) || s.offset?.length !== s.scale?.length || s.scale?.some((x) => x === 0)) {
    throw new LstmError('INVALID_ARGUMENT', `scalerFromJson(): not a scaler state ({ kind: 'standard' | 'minMax', offset, scale } of finite numbers, scales non-zero): ${describe(state)}`)
  }
  return new AffineScaler(s.kind).restore({ kind: s.kind, offset: [...(s.offset as number[])], scale: [...(s.scale as number[])] })
}
