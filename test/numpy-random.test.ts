/**
 * NumpyRandomState against numpy itself: test/fixtures/numpy/shuffle.json holds what numpy's legacy
 * `RandomState(seed).shuffle(np.arange(n))` gives (made by shuffle.py beside it), for Keras' seed 113 at the IMDB
 * sizes (25,000 train then 25,000 test from one generator; 1,000 + 1,000 for the bundled sample), and for other seeds
 * and small sizes in full. Permutations are compared by SHA-256 of their little-endian uint32 values.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NumpyRandomState } from '../src/datasets/numpy-random.js'
import { LstmError } from '../src/errors.js'

interface Case {
  seed: number
  sizes: number[]
  perms: { n: number; head: number[]; tail: number[]; sha256: string; full?: number[] }[]
}
const fixture = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'numpy', 'shuffle.json'), 'utf8')) as { numpy: string; cases: Case[] }

describe(`NumpyRandomState matches numpy ${fixture.numpy}'s RandomState.shuffle`, () => {
  it.each(fixture.cases.map((c) => [c.seed, c.sizes.join(', '), c] as const))('seed %d, sizes %s in turn', (_seed, _sizes, c) => {
    const random = new NumpyRandomState(c.seed)
    for (const expected of c.perms) {
      const order = random.shuffle(Uint32Array.from({ length: expected.n }, (_, i) => i))
      expect(Array.from(order.subarray(0, 8))).toEqual(expected.head)
      expect(Array.from(order.subarray(-8))).toEqual(expected.tail.slice(-Math.min(8, expected.n)))
      if (expected.full) expect(Array.from(order)).toEqual(expected.full)
      const le = Buffer.alloc(4 * order.length)
      order.forEach((v, i) => le.writeUInt32LE(v, 4 * i))
      expect(createHash('sha256').update(le).digest('hex')).toBe(expected.sha256)
    }
  })

  it('covers the IMDB sizes with seed 113', () => {
    expect(fixture.cases.some((c) => c.seed === 113 && c.sizes.join() === '25000,25000')).toBe(true)
  })

  it('refuses seeds numpy refuses', () => {
    for (const seed of [-1, 2 ** 32, 1.5, Number.NaN]) expect(() => new NumpyRandomState(seed)).toThrow(LstmError)
    expect(() => new NumpyRandomState(2 ** 32 - 1)).not.toThrow()
  })
})
