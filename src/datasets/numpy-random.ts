/**
 * numpy's legacy `np.random.RandomState(seed).shuffle(indices)`, bit for bit, so that `imdb.load` orders the reviews
 * with the very permutation Keras's `imdb.load_data` applies (`RandomState(113)`, train then test from one generator).
 * numpy seeds its Mersenne Twister (MT19937) from an integer with `init_genrand`, and its shuffle is Fisher-Yates from
 * the end, drawing each index with `random_interval`: 32-bit outputs masked to the smallest all-ones mask covering the
 * bound, rejected until one falls within it (numpy/random/src/distributions and mtrand.pyx).
 */
import { LstmError } from '../errors.js'

const N = 624
const M = 397
const MATRIX_A = 0x9908b0df
const UPPER_MASK = 0x80000000
const LOWER_MASK = 0x7fffffff

export class NumpyRandomState {
  private readonly key = new Uint32Array(N)
  private pos = N

  /** `seed`: an integer in [0, 2³² − 1], as `np.random.RandomState(seed)` accepts. */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new LstmError('INVALID_ARGUMENT', `a numpy RandomState seed must be an integer in [0, 2^32 - 1], got ${seed}`)
    }
    let s = seed >>> 0
    for (let i = 0; i < N; i++) {
      this.key[i] = s
      // 1812433253 · (s ^ (s >>> 30)) + i + 1, modulo 2³²
      s = (Math.imul(1812433253, s ^ (s >>> 30)) + i + 1) >>> 0
    }
  }

  private generate(): void {
    const key = this.key
    const twist = (i: number, next: number, far: number) => {
      const y = (key[i] & UPPER_MASK) | (key[next] & LOWER_MASK)
      key[i] = key[far] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)
    }
    let i = 0
    for (; i < N - M; i++) twist(i, i + 1, i + M)
    for (; i < N - 1; i++) twist(i, i + 1, i + M - N)
    twist(N - 1, 0, M - 1)
    this.pos = 0
  }

  /** The next 32-bit output (numpy's `next_uint32`, MT19937's `genrand_int32`). */
  nextUint32(): number {
    if (this.pos === N) this.generate()
    let y = this.key[this.pos++]
    y ^= y >>> 11
    y ^= (y << 7) & 0x9d2c5680
    y ^= (y << 15) & 0xefc60000
    y ^= y >>> 18
    return y >>> 0
  }

  /** A uniform integer in [0, max] by masked rejection (numpy's `random_interval`); `max` < 2³². */
  interval(max: number): number {
    if (max === 0) return 0
    let mask = max
    mask |= mask >>> 1
    mask |= mask >>> 2
    mask |= mask >>> 4
    mask |= mask >>> 8
    mask |= mask >>> 16
    mask >>>= 0
    for (;;) {
      const value = (this.nextUint32() & mask) >>> 0
      if (value <= max) return value
    }
  }

  /** Shuffles `array` in place as `RandomState.shuffle` does a 1-D array. */
  shuffle<T extends { length: number; [i: number]: number }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.interval(i)
      const swap = array[i]
      array[i] = array[j]
      array[j] = swap
    }
    return array
  }
}
