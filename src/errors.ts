/** Stable error codes; every error thrown by lstm-native carries one. */
export type ErrorCode =
  | 'INDEX_OUT_OF_RANGE'
  | 'INVALID_ARGUMENT'
  | 'NON_FINITE'
  | 'SHAPE_MISMATCH'
  | 'INVALID_CONFIG'
  | 'CORRUPT_WEIGHTS'
  | 'UNSUPPORTED'
  | 'IO'
  | 'OUT_OF_MEMORY'
  | 'MODEL_BUSY'
  | 'ABORTED'
  | 'INTERNAL'
  | 'NATIVE_BINDING_NOT_FOUND'

/** The one error class of lstm-native: `code` is stable, `message` names the offending value. */
export class LstmError extends Error {
  /** What went wrong, stable across versions; see the error table in docs/api.md. */
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = code === 'ABORTED' ? 'AbortError' : 'LstmError'
  }
}
