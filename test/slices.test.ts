import { describe, expect, it } from 'vitest'
import { Slicer, sortedInSlices } from '../src/slices.js'
import { seededRandom } from '../src/generate.js'
import { longestGap } from './helpers.js'

describe('sortedInSlices', () => {
  it('sorts as the built-in stable sort does, across run and merge boundaries', async () => {
    const random = seededRandom(7)
    for (const n of [0, 1, 2, 2047, 2048, 2049, 4096, 5000, 20_000]) {
      // Few distinct keys, so that stability shows: equal keys must keep their input order.
      const items = Array.from({ length: n }, (_, i) => ({ key: Math.floor(random() * 50), i }))
      const compare = (a: { key: number }, b: { key: number }) => a.key - b.key
      const sorted = await sortedInSlices(items, compare, new Slicer())
      expect(sorted).toEqual([...items].sort(compare))
      expect(items.map((x) => x.i)).toEqual(Array.from({ length: n }, (_, i) => i)) // the input is left as it was
    }
  })

  it('lets timers run while it sorts 400,000 strings', async () => {
    const random = seededRandom(3)
    const words = Array.from({ length: 400_000 }, () => random().toString(36).slice(2))
    const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
    const [gap, sorted] = await longestGap(() => sortedInSlices(words, compare, new Slicer()))
    expect(sorted).toEqual([...words].sort(compare))
    // The slices last 4 ms; the built-in sort of these words holds the event loop for several hundred. The bound is
    // generous for a busy shared machine.
    expect(gap).toBeLessThan(100)
  })
})
