// Event-loop lag during lstm-native's IMDB training, through the public API (dist/index.js): the same steps as
// `lstm-native train imdb` (load, pad, build, compile, fit with the progress bar, evaluate the test set at batch 500),
// with a 5 ms setInterval that records the gap between its ticks. A gap that spans phases is charged to each for its part in it.
//   node bench/imdb-lag.mjs [--data TAR] [--epochs 1] [--threads 2]
// Without --data: the bundled sample. Last line: BENCH_RESULT {"maxGapMs": ..., "phases": {...}, ...}
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'

const { imdbModel, datasets, padSequences, tensor } = createRequire(import.meta.url)('../dist/index.js')
const { values: o } = parseArgs({ options: { data: { type: 'string' }, epochs: { type: 'string', default: '1' }, threads: { type: 'string', default: '2' } } })
const INTERVAL_MS = 5

// Each gap is [start, end] in ms; each phase too. A phase's max gap is the longest part of any gap inside it, so a
// blocking stretch that spans phase boundaries is charged to each phase for the time it spent there.
const gaps = []
const marks = []
let last = performance.now()
const timer = setInterval(() => {
  const now = performance.now()
  gaps.push([last, now])
  last = now
}, INTERVAL_MS)
const enter = (name) => marks.push([name, performance.now()])
const t0 = performance.now()

enter('load')
const data = await datasets.imdb.load(o.data ? { path: o.data, numWords: 1000, shuffle: false } : { sample: true, numWords: 1000, shuffle: false })
enter('pad')
const xTrain = padSequences(data.xTrain, { maxlen: 200 })
const xTest = padSequences(data.xTest, { maxlen: 200 })
const yTrain = tensor(data.yTrain, [data.yTrain.length, 1])
const yTest = tensor(data.yTest, [data.yTest.length, 1])
enter('build')
// The tutorial's model, as `lstm-native train imdb` builds it.
const model = imdbModel({ seed: 0, numThreads: Number(o.threads) })
model.compile({ loss: 'binaryCrossentropy', optimizer: 'adam', metrics: ['accuracy'] })
enter('fit')
await model.fit(xTrain, yTrain, { epochs: Number(o.epochs), batchSize: 64, verbose: 1 })
enter('evaluate')
const test = await model.evaluate(xTest, yTest, { batchSize: 500 })
// One more tick so that a gap at the very end of evaluate is seen.
await new Promise((r) => setTimeout(r, INTERVAL_MS * 2))
enter('end')
clearInterval(timer)

const phases = {}
for (let i = 0; i + 1 < marks.length; i++) {
  const [name, from] = marks[i]
  const to = marks[i + 1][1]
  let maxGapMs = 0
  let ticks = 0
  for (const [a, b] of gaps) {
    if (b > from && b <= to) ticks++
    maxGapMs = Math.max(maxGapMs, Math.min(b, to) - Math.max(a, from))
  }
  phases[name] = { seconds: (to - from) / 1000, maxGapMs, ticks }
}

const seconds = (performance.now() - t0) / 1000
const lengths = gaps.map(([a, b]) => b - a)
const sorted = [...lengths].sort((a, b) => a - b)
const pct = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const result = {
  intervalMs: INTERVAL_MS,
  seconds,
  ticks: gaps.length,
  maxGapMs: sorted.at(-1),
  p99GapMs: pct(0.99),
  medianGapMs: pct(0.5),
  gapsOver50Ms: lengths.filter((g) => g > 50).length,
  phases,
  testAccuracy: test.accuracy,
  trainSize: data.xTrain.length,
}
console.log(`event loop: ${gaps.length} ticks in ${seconds.toFixed(1)} s, max gap ${result.maxGapMs.toFixed(1)} ms (fit ${phases.fit?.maxGapMs.toFixed(1)} ms), p99 ${result.p99GapMs.toFixed(1)} ms`)
console.log(`BENCH_RESULT ${JSON.stringify(result)}`)
