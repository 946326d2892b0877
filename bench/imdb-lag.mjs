// Event-loop lag during lstm-native's IMDB training, through the public API (dist/index.js), with a 5 ms setInterval
// that records the gap between its ticks (bench/lib/lag.mjs). By default the run of `lstm-native train imdb`:
// `trainImdb` (load and pad, build, fit with the progress bar, the test pass at batch 500). With --api, the steps of
// the README's example instead: `datasets.imdb.load` (an array per review), `padSequences`, `fit`, `evaluate`.
//   node bench/imdb-lag.mjs [--data TAR] [--epochs 1] [--threads 2] [--api]
// Without --data: the bundled sample. Last line: BENCH_RESULT {"maxGapMs": ..., "phases": {...}, ...}
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { lagTimer } from './lib/lag.mjs'

const { Sequential, imdbModel, datasets, padSequences, tensor, trainImdb } = createRequire(import.meta.url)('../dist/index.js')
const { values: o } = parseArgs({ options: { data: { type: 'string' }, epochs: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' }, api: { type: 'boolean', default: false } } })

const lag = lagTimer()
const epochs = Number(o.epochs)
const numThreads = Number(o.threads)
let testAccuracy
let trainSize
if (o.api) {
  lag.enter('load')
  const data = await datasets.imdb.load(o.data ? { path: o.data, numWords: 1000, shuffle: false } : { sample: true, numWords: 1000, shuffle: false })
  lag.enter('pad')
  const xTrain = padSequences(data.xTrain, { maxlen: 200 })
  const xTest = padSequences(data.xTest, { maxlen: 200 })
  const yTrain = tensor(data.yTrain, [data.yTrain.length, 1])
  const yTest = tensor(data.yTest, [data.yTest.length, 1])
  lag.enter('build')
  const model = imdbModel({ seed: 0, numThreads })
  model.compile({ loss: 'binaryCrossentropy', optimizer: 'adam', metrics: ['accuracy'] })
  lag.enter('fit')
  await model.fit(xTrain, yTrain, { epochs, batchSize: 64, verbose: 1 })
  lag.enter('evaluate')
  testAccuracy = (await model.evaluate(xTest, yTest, { batchSize: 500 })).accuracy
  trainSize = data.xTrain.length
} else {
  // trainImdb's phases, marked where it calls fit and evaluate.
  const { fit, evaluate } = Sequential.prototype
  Sequential.prototype.fit = function (...args) {
    lag.enter('fit')
    return fit.apply(this, args)
  }
  Sequential.prototype.evaluate = function (...args) {
    lag.enter('evaluate')
    return evaluate.apply(this, args)
  }
  lag.enter('load')
  const r = await trainImdb({ ...(o.data ? { data: o.data } : {}), epochs, numThreads, shuffle: false, seed: 0, log: () => {} })
  testAccuracy = r.testAccuracy
  trainSize = r.trainSize
}
// One more tick so that a gap at the very end is seen.
await new Promise((r) => setTimeout(r, 10))
const result = { ...lag.stop(), testAccuracy, trainSize }
const { phases } = result
console.log(`event loop: ${result.ticks} ticks in ${result.seconds.toFixed(1)} s, max gap ${result.maxGapMs.toFixed(1)} ms (fit ${phases.fit?.maxGapMs.toFixed(1)} ms), p99 ${result.p99GapMs.toFixed(1)} ms`)
console.log(`BENCH_RESULT ${JSON.stringify(result)}`)
