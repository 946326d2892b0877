// lstm-native IMDB inference throughput: the tutorial's model (random weights: only the time matters) predicting
// every test review at batch 500, through the package's public API (dist/index.js).
//   node bench/imdb-infer.mjs [--data TAR] [--threads 2] [--batch 500]
// Without --data: the bundled sample. Last line: BENCH_RESULT {"reviewsPerSecond": ..., ...}
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

const { imdbModel, datasets, padSequences, tensor } = createRequire(import.meta.url)('../dist/index.js')
const { values: o } = parseArgs({ options: { data: { type: 'string' }, threads: { type: 'string', default: '2' }, batch: { type: 'string', default: '500' } } })
const numThreads = Number(o.threads)
const batchSize = Number(o.batch)
const maxlen = 200

let t = performance.now()
const data = await datasets.imdb.load(o.data ? { path: o.data, numWords: 1000, shuffle: false } : { sample: true, numWords: 1000, shuffle: false })
const xTest = padSequences(data.xTest, { maxlen })
const loadSeconds = (performance.now() - t) / 1000

// The tutorial's model, as `lstm-native train imdb` builds it.
const model = imdbModel({ seed: 0, numThreads })
const n = xTest.shape[0]
// One warm-up batch (first-call allocations), then the timed pass over the whole test set.
await model.predict(tensor(xTest.data.subarray(0, Math.min(n, batchSize) * maxlen), [Math.min(n, batchSize), maxlen]), { batchSize })
t = performance.now()
const out = await model.predict(xTest, { batchSize })
const seconds = (performance.now() - t) / 1000
if (out.shape[0] !== n) throw new Error(`predict returned ${out.shape[0]} rows for ${n} reviews`)
console.log(`lstm-native infer: ${n} reviews in ${seconds.toFixed(2)} s at batch ${batchSize}, ${numThreads} threads: ${(n / seconds).toFixed(0)} reviews/s`)
console.log(`BENCH_RESULT ${JSON.stringify({ reviews: n, seconds, reviewsPerSecond: n / seconds, batchSize, threads: numThreads, loadSeconds })}`)
