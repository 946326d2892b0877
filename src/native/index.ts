import { LstmError, type ErrorCode } from '../errors.js'
import { loadNative } from './load.js'
import type * as Binding from './binding.js'

export type { NativeModel, NamedTensor, TensorOut, BatchProgress, LayerSummary } from './binding.js'

let binding: typeof Binding | undefined

/** The addon, loaded on first use (so importing lstm-native never fails by itself). */
export function native(): typeof Binding {
  binding ??= loadNative<typeof Binding>()
  return binding
}

const CODES: readonly ErrorCode[] = [
  'INDEX_OUT_OF_RANGE',
  'INVALID_ARGUMENT',
  'NON_FINITE',
  'SHAPE_MISMATCH',
  'INVALID_CONFIG',
  'CORRUPT_WEIGHTS',
  'IO',
  'OUT_OF_MEMORY',
  'MODEL_BUSY',
  'ABORTED',
  'INTERNAL',
]

/**
 * The one place native errors become `LstmError`s. The binding writes each core error as `[CODE] message`
 * (crates/lstm-node/src/errors.rs); anything else is an internal error.
 */
export function fromNative(err: unknown): LstmError {
  if (err instanceof LstmError) return err
  const message = err instanceof Error ? err.message : String(err)
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(message)
  if (m && (CODES as readonly string[]).includes(m[1])) return new LstmError(m[1] as ErrorCode, m[2], { cause: err })
  return new LstmError('INTERNAL', message, { cause: err })
}

/** Runs a synchronous native call, mapping its error. */
export function call<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw fromNative(e)
  }
}

/** Awaits a native promise, mapping its rejection. */
export async function callAsync<T>(p: () => Promise<T>): Promise<T> {
  try {
    return await p()
  } catch (e) {
    throw fromNative(e)
  }
}
