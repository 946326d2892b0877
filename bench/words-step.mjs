// `generate`'s step on the tutorial's next-word model (2 × LSTM(512) over one float input, Dense(86)): batch-1
// `predictStep`, each call carrying the LSTM states from the last, on random weights. After a warm-up, 3 timed runs
// of N steps; each prints "lstm generate X ms/step", the counterpart of bench/peers/torch_words_step.py.
//   node bench/words-step.mjs [N=2000] [THREADS=2]
// Last line: BENCH_RESULT {"msPerStep": median of the 3, "msPerStepSamples": [...]}
import { createRequire } from 'node:module'

const { tensor, wordModel } = createRequire(import.meta.url)('../dist/index.js')
const n = Number(process.argv[2] ?? 2000)
const numThreads = Number(process.argv[3] ?? 2)
const V = 86

const model = wordModel(V, { numThreads, seed: 0 })
// The input a word id makes for this model: one float feature, one step.
const inputs = Array.from({ length: V }, (_, id) => tensor(Float32Array.of(id), [1, 1, 1]))
let id = 0
const step = () => {
  const out = model.predictStep(inputs[id]).data
  // The next input is the arg-max, as generate's greedy pick: the output is read back every step.
  let best = 0
  for (let i = 1; i < out.length; i++) if (out[i] > out[best]) best = i
  id = best
}
for (let i = 0; i < 50; i++) step()
const samples = []
for (let r = 0; r < 3; r++) {
  const t = performance.now()
  for (let i = 0; i < n; i++) step()
  samples.push((performance.now() - t) / n)
  console.log(`lstm generate ${samples.at(-1).toFixed(4)} ms/step`)
}
const msPerStep = [...samples].sort((a, b) => a - b)[1]
console.log(`BENCH_RESULT ${JSON.stringify({ msPerStep, msPerStepSamples: samples, steps: n })}`)
