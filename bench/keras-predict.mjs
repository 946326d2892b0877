// Predict speed of a Keras model imported with Sequential.fromKeras against Keras itself, on the same file and the
// same inputs: the tutorial's IMDB model as Keras trained and saved it (test/fixtures/keras/imdb_lstm.keras), on
// ROWS pseudo-random reviews of 200 token ids ('pre' padded, as padSequences makes them), at batch 500. Each side does
// a warm-up batch, then REPEAT timed passes; the predictions must agree within 1e-5.
//   node bench/keras-predict.mjs [--rows 5000] [--threads 2] [--batch 500] [--repeat 3] [--model FILE]
// Needs `npm run build` and bench/.venv (node bench/run.mjs --setup). Last line: BENCH_RESULT {...}
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))
const { Sequential, tensor, seededRandom } = createRequire(import.meta.url)('../dist/index.js')
const { values: o } = parseArgs({
  options: {
    rows: { type: 'string', default: '5000' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '500' },
    repeat: { type: 'string', default: '3' },
    model: { type: 'string', default: join(here, '../test/fixtures/keras/imdb_lstm.keras') },
  },
})
const [rows, cols, numThreads, batchSize, repeat] = [Number(o.rows), 200, Number(o.threads), Number(o.batch), Number(o.repeat)]

// Reviews of 20 to 400 words from a 1,000-word vocabulary, cut or padded to 200 at the start, with the start id 1.
const r = seededRandom(7)
const x = new Int32Array(rows * cols)
for (let i = 0; i < rows; i++) {
  const len = Math.min(cols, 20 + Math.floor(r() * 380))
  x[i * cols + cols - len] = 1
  for (let t = cols - len + 1; t < cols; t++) x[i * cols + t] = 2 + Math.floor(r() * 998)
}
const dir = mkdtempSync(join(tmpdir(), 'keras-predict-'))
try {
  const xFile = join(dir, 'x.i32')
  const outFile = join(dir, 'keras.f32')
  writeFileSync(xFile, x)

  let t = performance.now()
  const model = await Sequential.fromKeras(o.model, { numThreads })
  const importSeconds = (performance.now() - t) / 1000
  const xt = tensor(x, [rows, cols])
  await model.predict(tensor(x.subarray(0, batchSize * cols), [batchSize, cols]), { batchSize })
  const ours = []
  let out
  for (let k = 0; k < repeat; k++) {
    t = performance.now()
    out = await model.predict(xt, { batchSize })
    ours.push((performance.now() - t) / 1000)
  }

  const python = process.env.LSTM_NATIVE_PYTHON ?? join(here, '.venv/bin/python')
  const log = execFileSync(python, [join(here, 'peers/keras_predict_file.py'), o.model, xFile, String(rows), String(cols), outFile, String(numThreads), String(batchSize), String(repeat)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  const keras = JSON.parse(log.trim().split('\n').pop().replace(/^BENCH_RESULT /, ''))
  const theirs = new Float32Array(readFileSync(outFile).buffer.slice(0))
  let maxDiff = 0
  for (let i = 0; i < rows; i++) maxDiff = Math.max(maxDiff, Math.abs(theirs[i] - out.data[i]))
  if (!(maxDiff < 1e-5)) throw new Error(`the predictions differ by ${maxDiff}`)

  const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]
  const result = {
    rows,
    batchSize,
    threads: numThreads,
    importSeconds,
    lstmNative: { seconds: ours, reviewsPerSecond: rows / median(ours) },
    keras: { seconds: keras.seconds, reviewsPerSecond: rows / median(keras.seconds), tensorflow: keras.tensorflow, keras: keras.keras },
    maxDiff,
  }
  console.log(`imported model: ${result.lstmNative.reviewsPerSecond.toFixed(0)} reviews/s; Keras ${keras.keras}: ${result.keras.reviewsPerSecond.toFixed(0)} reviews/s (batch ${batchSize}, ${numThreads} threads, ${rows} reviews, median of ${repeat}); max difference ${maxDiff.toExponential(1)}`)
  console.log(`BENCH_RESULT ${JSON.stringify(result)}`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
