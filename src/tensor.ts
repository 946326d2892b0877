import { LstmError } from './errors.js'
import { checkInt, describe, INT32_MAX } from './validate.js'

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
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) {
      if (typeof data[i] !== 'number') throw new LstmError('INVALID_ARGUMENT', `tensor(): data[${i}] is ${i in data ? describe(data[i]) : 'a hole'}, not a number`)
    }
  }
  const typed = Array.isArray(data) ? Float32Array.from(data) : data
  if (!(typed instanceof Int32Array) && !(typed instanceof Float32Array)) {
    throw new LstmError('INVALID_ARGUMENT', `tensor() takes an Int32Array, a Float32Array or a number[], got ${describe(data)}`)
  }
  if (shape !== undefined && !Array.isArray(shape)) throw new LstmError('INVALID_ARGUMENT', `tensor(): shape must be an array of dimensions, got ${describe(shape)}`)
  const dims = shape ?? [typed.length]
  // Every dimension crosses into native code as a u32: 1.5 or 2³² + 1 must not arrive as 1.
  dims.forEach((d, i) => checkInt(`tensor(): shape[${i}] (of [${dims.map(describe).join(', ')}])`, d, 0, INT32_MAX, 'SHAPE_MISMATCH'))
  if (shapeSize(dims) !== typed.length) {
    throw new LstmError(
      'SHAPE_MISMATCH',
      `tensor() data has ${typed.length} elements but shape [${dims.join(', ')}] needs ${shapeSize(dims)}`,
    )
  }
  return Object.freeze({ data: typed, shape: Object.freeze([...dims]), dtype: typed instanceof Int32Array ? 'int32' : 'float32' })
}

/**
 * A Tensor argument checked as `tensor()` checks its own: a duck-typed `{ data, shape, dtype }` with a Float64Array,
 * a fractional dimension or a `dtype` that does not match its data gets a typed error here, not in native code.
 */
export function checkedTensor(v: Tensor, what: string): Tensor {
  const { data, shape, dtype } = v
  if (!(data instanceof Int32Array) && !(data instanceof Float32Array)) {
    throw new LstmError('INVALID_ARGUMENT', `${what}.data must be an Int32Array or a Float32Array, got ${describe(data)}`)
  }
  if (dtype !== (data instanceof Int32Array ? 'int32' : 'float32')) {
    throw new LstmError('INVALID_ARGUMENT', `${what}.dtype is ${describe(dtype)} but its data is a ${data.constructor.name}`)
  }
  return tensor(data, shape)
}

/** Nested arrays deeper than this are refused before they are walked (no model input has more than 3 axes). */
const MAX_NESTED_RANK = 8

/**
 * Nested number arrays → a flat typed array (Int32Array when `int`) and its shape. Only rectangular arrays of numbers
 * are accepted: a hole, a ragged row or a non-number is `INVALID_ARGUMENT` naming its position, never skipped.
 */
export function fromNested(v: readonly unknown[], int: boolean, what: string): Tensor {
  const shape: number[] = []
  for (let level: unknown = v; Array.isArray(level); level = level[0]) {
    if (shape.length === MAX_NESTED_RANK) throw new LstmError('INVALID_ARGUMENT', `${what} is nested more than ${MAX_NESTED_RANK} arrays deep`)
    shape.push(level.length)
    if (level.length === 0) break
  }
  const size = shape.reduce((a, b) => a * b, 1)
  const out = int ? new Int32Array(size) : new Float32Array(size)
  let k = 0
  const at = (index: number[]) => `${what}[${index.join(', ')}]`
  const walk = (node: unknown, depth: number, index: number[]): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number') throw new LstmError('INVALID_ARGUMENT', `${at(index)} is ${describe(node)}, not a number`)
      if (int && !Number.isInteger(node)) {
        if (!Number.isFinite(node)) throw new LstmError('NON_FINITE', `non-finite value ${node} in ${what} at ${at(index)}`)
        throw new LstmError('INVALID_ARGUMENT', `token ids must be integers, got ${node} at ${at(index)}`)
      }
      // An Int32Array would wrap larger ids around silently; report them as the core does.
      if (int && (node < 0 || node > INT32_MAX)) {
        throw new LstmError('INDEX_OUT_OF_RANGE', `index ${node} out of range at ${at(index)}: token ids must be in [0, inputDim)`)
      }
      out[k++] = node
      return
    }
    if (!Array.isArray(node)) throw new LstmError('INVALID_ARGUMENT', `${at(index)} is ${describe(node)}, not an array of ${shape[depth]}`)
    if (node.length !== shape[depth]) {
      throw new LstmError('INVALID_ARGUMENT', `${what} is ragged: ${at(index)} has ${node.length} elements, not ${shape[depth]}`)
    }
    // An index loop, not forEach: forEach skips holes, which would shift the later values.
    for (let i = 0; i < node.length; i++) {
      if (!(i in node)) throw new LstmError('INVALID_ARGUMENT', `${at([...index, i])} is a hole in the array, not a ${depth + 1 === shape.length ? 'number' : 'row'}`)
      walk(node[i], depth + 1, [...index, i])
    }
  }
  walk(v, 0, [])
  return tensor(out, shape)
}

/** Whether `v` is a Tensor (an object with `data`, `shape` and `dtype`), rather than nested arrays. */
export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'dtype' in v
}
