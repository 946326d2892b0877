/**
 * The checks every public entry point shares: integers (so no value wraps or truncates when it crosses into native
 * code as a u32), options objects (one rule for `null`), strings, and a description of any value that never throws
 * (a BigInt, a symbol or an object without a prototype cannot always go through `String` or `JSON.stringify`).
 */
import { type ErrorCode, LstmError } from './errors.js'

/** The largest count or dimension any entry accepts: the binding passes them as u32, the core as i32-safe sizes. */
export const INT32_MAX = 2 ** 31 - 1

/** The thread counts a model accepts, in the constructor and in `Sequential.load`. */
export const MAX_THREADS = 256

/** A short, never-throwing description of a value for an error message. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v
  if (typeof v !== 'object' || v === null) return String(v)
  if (Array.isArray(v)) return `an array of ${v.length}`
  const tag = Object.prototype.toString.call(v)
  return tag === '[object Object]' ? 'an object' : tag
}

/** `v` as an integer in [min, max]; anything else (a fraction, NaN, a string, 2³² + 1) is `code`, naming the range. */
export function checkInt(what: string, v: unknown, min: number, max = INT32_MAX, code: ErrorCode = 'INVALID_ARGUMENT'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new LstmError(code, `${what} must be an integer in [${min}, ${max}], got ${describe(v)}`)
  }
  return v
}

/**
 * An options argument. The rule for the whole API: a missing options argument, `undefined` and `null` all mean "no
 * options"; anything else that is not a plain object (an array, a number, a string) is `code`. Inside an options
 * object, a missing key or `undefined` means the default, and `null` is accepted only where the option's type lists
 * it: the checks of each option refuse it otherwise.
 */
export function optionsOf<T extends object>(what: string, v: T | null | undefined, code: ErrorCode = 'INVALID_ARGUMENT'): Partial<T> {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw new LstmError(code, `${what}: options must be an object, got ${describe(v)}`)
  return v
}

/** `v` when it is `undefined` (the default applies) or a boolean. */
export function checkBool(what: string, v: unknown, code: ErrorCode = 'INVALID_ARGUMENT'): boolean | undefined {
  if (v !== undefined && typeof v !== 'boolean') throw new LstmError(code, `${what} must be true or false, got ${describe(v)}`)
  return v
}

/** A file path: a string (what the file system makes of an empty or odd one is an `IO` error, from the core). */
export function checkPath(what: string, v: unknown): string {
  if (typeof v !== 'string') throw new LstmError('INVALID_ARGUMENT', `${what} must be a file path (a string), got ${describe(v)}`)
  return v
}

/** `JSON.stringify(v)`, with a BigInt or a cycle as `INVALID_ARGUMENT` rather than a bare `TypeError`. */
export function toJson(what: string, v: unknown): string {
  try {
    return JSON.stringify(v)
  } catch (err) {
    throw new LstmError('INVALID_ARGUMENT', `${what} must be JSON-serialisable: ${(err as Error).message}`, { cause: err })
  }
}
