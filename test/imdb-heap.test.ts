/**
 * trainImdb keeps only the model's words of the loaded vocabulary while it trains: the whole vocabulary (90,000
 * strings for the full archive) would be half of the heap that V8's garbage collector walks and compacts during
 * `fit`, pausing the event loop.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it, vi } from 'vitest'
import { Sequential, trainImdb } from '../src/index.js'

// The vocabulary array each load hands out, watched through a weak reference (hoisted with the mock).
const loaded = vi.hoisted(() => [] as WeakRef<string[]>[])
vi.mock('../src/datasets/imdb.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/datasets/imdb.js')>()
  return {
    ...real,
    loadPadded: async (...args: Parameters<typeof real.loadPadded>) => {
      const data = await real.loadPadded(...args)
      loaded.push(new WeakRef(data.vocabulary))
      return data
    },
  }
})

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

describe('trainImdb and the heap', () => {
  it('lets the full vocabulary be collected before fit starts, and keeps the model words', async () => {
    const alive: boolean[] = []
    const fit = Sequential.prototype.fit
    const spy = vi.spyOn(Sequential.prototype, 'fit').mockImplementation(async function (this: InstanceType<typeof Sequential>, ...args: Parameters<typeof fit>) {
      // A full collection between the load and the training: what is still reachable is what fit runs with.
      await new Promise((r) => setImmediate(r))
      gc()
      alive.push(loaded.at(-1)?.deref() !== undefined)
      return fit.apply(this, args)
    })
    try {
      const r = await trainImdb({ epochs: 1, units: 4, embeddingDim: 4, maxlen: 20, numWords: 50, verbose: 0, numThreads: 1, log: () => {} })
      expect(loaded).toHaveLength(1)
      expect(alive).toEqual([false])
      const words = (r.model.metadata as { words: string[] }).words
      expect(words).toHaveLength(47)
      expect(words.every((w) => typeof w === 'string' && w.length > 0)).toBe(true)
    } finally {
      spy.mockRestore()
    }
  })
})
