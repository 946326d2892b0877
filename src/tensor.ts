import { LstmError } from './errors.js'

/** Element types a Tensor can hold: token ids or float features. */
export type DType = 'int32' | 'float32'

/** A dense row-major array: `data` is shared with the caller, never copied. */
export interface Tensor {
  /** The elements, row-major (the last axis varies fastest). */
  readonly data: Int32Array | Float32Array
  /** Size of each axis; their product is `data.length`. */
  readonly shape: readonly number[]
  /** `'int32'` for an `Int32Array`, `'float32'` for a `Float32Array`. */
  readonly dtype: DType
}

/** Data accepted where a Tensor is expected: a Tensor or nested number arrays (float32, or int32 when every value is an integer and `int` is asked for). */
export type TensorLike = Tensor | number[] | number[][] | number[][][]

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

/**
 * Wrap a typed array as a Tensor of the given shape, without copying it.
 * A plain `number[]` is converted to float32.
 */
export function tensor(data: Int32Array | Float32Array | number[], shape?: readonly number[]): Tensor {
  const typed = Array.isArray(data) ? Float32Array.from(data) : data
  if (!(typed instanceof Int32Array) && !(typed instanceof Float32Array)) {
    throw new LstmError('INVALID_ARGUMENT', `tensor() takes an Int32Array, a Float32Array or a number[], got ${Object.prototype.toString.call(data)}`)
  }
  const dims = shape ?? [typed.length]
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) {
      throw new LstmError('SHAPE_MISMATCH', `tensor() shape [${dims.join(', ')}] has a bad dimension ${d}`)
    }
  }
  if (shapeSize(dims) !== typed.length) {
    throw new LstmError(
      'SHAPE_MISMATCH',
      `tensor() data has ${typed.length} elements but shape [${dims.join(', ')}] needs ${shapeSize(dims)}`,
    )
  }
  return Object.freeze({ data: typed, shape: Object.freeze([...dims]), dtype: typed instanceof Int32Array ? 'int32' : 'float32' })
}

/** Whether `v` is a Tensor (an object with `data`, `shape` and `dtype`), rather than nested arrays. */
export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'dtype' in v
}
