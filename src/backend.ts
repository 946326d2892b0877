import { availableParallelism } from 'node:os'

import { call, native } from './native/index.js'

/** A dispatch level of the native kernels, lowest first: portable code only, AVX2 with FMA, or AVX-512. */
export type SimdLevel = 'scalar' | 'avx2' | 'avx512'

/** What lstm-native runs on, as {@link backend} reports it. */
export interface Backend {
  /**
   * The SIMD level the native kernels run at: the best this CPU has (`scalar` on ARM and on x86-64 CPUs without
   * AVX2 and FMA), or the lower one the environment variable `LSTM_NATIVE_SIMD` asks for.
   */
  simd: SimdLevel
  /** The threads a model uses when `numThreads` is not given: one per core this process may use. */
  threads: number
}

/**
 * What the native core runs on: its SIMD level and the default thread count.
 *
 * Set `LSTM_NATIVE_SIMD=scalar|avx2|avx512` before the process loads lstm-native to cap the level (it is read once);
 * results can differ in the last bits between levels, never by more than float32 rounding.
 *
 * @throws {LstmError} `INVALID_CONFIG` when `LSTM_NATIVE_SIMD` names an unknown level or one this CPU lacks (building
 * a model fails with the same error).
 *
 * @example
 * ```ts
 * import { backend } from 'lstm-native'
 * console.log(backend()) // { simd: 'avx2', threads: 8 }
 * ```
 */
export function backend(): Backend {
  return { simd: call(() => native().simdLevel()) as SimdLevel, threads: availableParallelism() }
}
