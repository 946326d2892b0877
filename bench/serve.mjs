// `npm run bench -- --only serve` runs this: the IMDB model (Embedding(1000, 50), LSTM(100), Dense(250, relu),
// Dense(1, sigmoid); random weights, only the time matters) behind `lstm-native serve` with and without batching, and
// the same model in PyTorch behind FastAPI on uvicorn (bench/peers/torch_imdb_serve.py), each loaded by autocannon on
// loopback with single-review requests (the same 64 bodies, token ids of 20 to 400 reviews' words, padded by each
// server to 200) at 1, 16 and 64 connections, alternating the servers at each level. Then `predict` throughput
// from JS, 64 concurrent single-review callers, with and without `enableBatching`.
//   node bench/serve.mjs [--python PY] [--seconds 10] [--threads 2] [--connections 1,16,64]
// Last line: BENCH_RESULT {...}
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'

const here = dirname(fileURLToPath(import.meta.url))
const repo = dirname(here)
const { values } = parseArgs({ options: { python: { type: 'string' }, seconds: { type: 'string', default: '10' }, threads: { type: 'string', default: '2' }, connections: { type: 'string', default: '1,16,64' } } })
const seconds = Number(values.seconds)
const threads = Number(values.threads)
const levels = values.connections.split(',').map(Number)
const lib = await import(join(repo, 'dist/index.mjs'))
const { Sequential, layers } = lib

const dir = mkdtempSync(join(tmpdir(), 'lstm-native-serve-bench-'))
const file = join(dir, 'imdb.safetensors')
const model = new Sequential(
  [
    layers.embedding({ inputDim: 1000, outputDim: 50 }),
    layers.dropout({ rate: 0.2 }),
    layers.lstm({ units: 100 }),
    layers.dense({ units: 250, activation: 'relu' }),
    layers.dropout({ rate: 0.2 }),
    layers.dense({ units: 1, activation: 'sigmoid' }),
  ],
  { seed: 1, numThreads: threads },
)
model.metadata = { task: 'imdb', maxlen: 200, startChar: 1, oovChar: 2, indexFrom: 3, words: [] }
await model.save(file)

let seed = 7
const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
const reviews = Array.from({ length: 64 }, () => Array.from({ length: 20 + (next() % 381) }, () => 1 + (next() % 999)))
const bodies = reviews.map((r) => JSON.stringify({ instances: [r] }))

/** Starts a server and resolves to its base URL once it answers /healthz. */
async function start(name, cmd, args, port) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c) => (out += c))
  child.stderr.on('data', (c) => (out += c))
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${out}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { name, url, child, out: () => out }
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${name} did not start: ${out}`)
}

const cli = join(repo, 'dist/cli.js')
const servers = [
  await start('batched', process.execPath, [cli, 'serve', '--model', file, '--name', 'imdb', '--port', '18431', '--threads', String(threads)], 18431),
  await start('unbatched', process.execPath, [cli, 'serve', '--model', file, '--name', 'imdb', '--port', '18432', '--threads', String(threads), '--max-batch', '1'], 18432),
]
if (values.python) servers.push(await start('torch', values.python, [join(here, 'peers/torch_imdb_serve.py'), '18433', String(threads)], 18433))
console.log(servers[0].out().trim().split('\n')[0])

function load(url, connections, duration) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${url}/v1/models/imdb:predict`,
        connections,
        duration,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        requests: bodies.map((body) => ({ body })),
      },
      (err, r) => (err ? reject(err) : resolve(r)),
    )
  })
}

const results = {}
for (const c of levels) {
  for (const s of servers) {
    await load(s.url, c, 2) // warm-up
    if (s.name === 'batched') await fetch(`${s.url}/healthz?reset`)
    const r = await load(s.url, c, seconds)
    const gap = s.name === 'batched' ? (await (await fetch(`${s.url}/healthz`)).json()).eventLoopMaxGapMs : undefined
    const fig = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, eventLoopMaxGapMs: gap }
    ;(results[s.name] ??= {})[c] = fig
    console.log(`${s.name} ${c} connections: ${fig.rps.toFixed(0)} req/s, p50 ${fig.p50} ms, p99 ${fig.p99} ms, ${fig.non2xx} non-2xx, ${fig.errors} errors${gap !== undefined ? `, longest 5 ms timer gap ${gap.toFixed(1)} ms` : ''}`)
  }
}
for (const s of servers) {
  s.child.kill('SIGTERM')
  const code = await new Promise((r) => (s.child.exitCode !== null ? r(s.child.exitCode) : s.child.once('exit', (c) => r(c))))
  results[s.name].exitCode = code
}

// predict from JS: 64 callers, each awaiting one single-review prediction after another.
async function throughput(batching) {
  const m = await Sequential.load(file, { numThreads: threads })
  if (batching) m.enableBatching()
  const xs = reviews.map((r) => lib.padSequences([r], { maxlen: 200 }))
  let done = 0
  const until = performance.now() + seconds * 1000
  await Promise.all(
    xs.map(async (x) => {
      while (performance.now() < until) {
        await m.predict(x)
        done++
      }
    }),
  )
  return done / seconds
}
results.jsPredict = { unbatched: await throughput(false), batched: await throughput(true) }
console.log(`predict from JS, 64 concurrent callers: ${results.jsPredict.unbatched.toFixed(0)} /s without batching, ${results.jsPredict.batched.toFixed(0)} /s with`)
rmSync(dir, { recursive: true, force: true })
console.log(`BENCH_RESULT ${JSON.stringify(results)}`)
