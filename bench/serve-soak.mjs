// The soak of `lstm-native serve`: REQUESTS requests (default 200,000) from 32 concurrent keep-alive clients, one in
// ten bad (malformed JSON, an oversized body, an id out of range, a wrong type), against the IMDB-sized model with
// batching. Checks that the server never exits, that every bad request is a 4xx with an error code, that every good one
// gets the prediction the model gives for it alone (within 1e-6), and measures the server's RSS after warm-up (the
// first quarter) and at the end, with a sample every twentieth. The warm-up is a quarter because V8 grows the young
// generation to its working size only after 20 to 30 s of this load (`node --trace-gc`: the heap's committed size
// steps from 24 to 40 MB while its live data stays at 7 to 8 MB), a one-time step of about 23 MB of RSS.
//   node bench/serve-soak.mjs [--requests 200000] [--threads 2]
// Last line: BENCH_RESULT {...}
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const repo = dirname(dirname(fileURLToPath(import.meta.url)))
const { values } = parseArgs({ options: { requests: { type: 'string', default: '200000' }, threads: { type: 'string', default: '2' } } })
const total = Number(values.requests)
const { Sequential, layers, padSequences } = await import(join(repo, 'dist/index.mjs'))

const dir = mkdtempSync(join(tmpdir(), 'lstm-native-soak-'))
const file = join(dir, 'imdb.safetensors')
const model = new Sequential(
  [layers.embedding({ inputDim: 1000, outputDim: 50 }), layers.lstm({ units: 100 }), layers.dense({ units: 250, activation: 'relu' }), layers.dense({ units: 1, activation: 'sigmoid' })],
  { seed: 1, numThreads: Number(values.threads) },
)
model.metadata = { task: 'imdb', maxlen: 200, startChar: 1, oovChar: 2, indexFrom: 3, words: [] }
await model.save(file)

let seed = 11
const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
const reviews = Array.from({ length: 100 }, () => Array.from({ length: 10 + (next() % 300) }, () => 1 + (next() % 999)))
const want = (await model.predict(padSequences(reviews, { maxlen: 200 }))).data
const good = reviews.map((r) => JSON.stringify({ instances: [r] }))
const bad = ['{"instances": [[1, 2, 3', JSON.stringify({ instances: [Array(600_000).fill(7)] }), JSON.stringify({ instances: [[5, 1000, 3]] }), JSON.stringify({ instances: [['five']] })]

const child = spawn(process.execPath, [join(repo, 'dist/cli.js'), 'serve', '--model', file, '--name', 'imdb', '--port', '18441', '--threads', values.threads], { stdio: ['ignore', 'pipe', 'inherit'] })
let exited = null
child.on('exit', (code, signal) => (exited = { code, signal }))
const url = 'http://127.0.0.1:18441/v1/models/imdb:predict'
for (let i = 0; ; i++) {
  try {
    if ((await fetch('http://127.0.0.1:18441/healthz')).ok) break
  } catch {}
  if (i > 300 || exited) throw new Error('the server did not start')
  await new Promise((r) => setTimeout(r, 100))
}
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024

const tally = { good: 0, goodWrong: 0, bad: 0, badNot4xx: 0, badNoCode: 0, networkErrors: 0, statuses: {} }
let sent = 0
let rssAfterWarmup = null
// RSS every twentieth of the run: growth that levels off (heaps reaching their working size) against growth that does not.
const rssSamples = []
const started = performance.now()
async function client() {
  while (sent < total && !exited) {
    const i = sent++
    if (i === Math.floor(total / 4)) rssAfterWarmup = rss()
    if (i % Math.floor(total / 20) === 0 && i > 0) rssSamples.push([i, rss()])
    const isBad = i % 10 === 5
    const body = isBad ? bad[Math.floor(i / 10) % bad.length] : good[i % good.length]
    try {
      const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      const json = await res.json().catch(() => null)
      tally.statuses[res.status] = (tally.statuses[res.status] ?? 0) + 1
      if (isBad) {
        tally.bad++
        if (res.status < 400 || res.status >= 500) tally.badNot4xx++
        if (typeof json?.error?.code !== 'string') tally.badNoCode++
      } else {
        tally.good++
        const p = json?.predictions?.[0]?.[0]
        if (res.status !== 200 || typeof p !== 'number' || Math.abs(p - want[i % good.length]) > 1e-6) tally.goodWrong++
      }
    } catch {
      tally.networkErrors++
    }
  }
}
await Promise.all(Array.from({ length: 32 }, client))
const seconds = (performance.now() - started) / 1000
const rssEnd = exited ? null : rss()
const crashed = exited !== null
child.kill('SIGTERM')
const exit = await new Promise((r) => (exited ? r(exited) : child.once('exit', (code, signal) => r({ code, signal }))))
rmSync(dir, { recursive: true, force: true })
const result = { requests: sent, seconds, requestsPerSecond: sent / seconds, ...tally, crashed, exitAfterSigterm: exit, rssAfterWarmupMb: rssAfterWarmup, rssEndMb: rssEnd, rssSamplesMb: rssSamples.map(([at, mb]) => [at, Number(mb.toFixed(1))]), rssGrowthPercent: rssAfterWarmup && rssEnd ? ((rssEnd - rssAfterWarmup) / rssAfterWarmup) * 100 : null }
console.log(
  `soak: ${sent} requests in ${seconds.toFixed(0)} s; good ${tally.good} (${tally.goodWrong} wrong), bad ${tally.bad} (${tally.badNot4xx} not 4xx, ${tally.badNoCode} without a code), ` +
    `${tally.networkErrors} network errors, crashed: ${crashed}; RSS ${rssAfterWarmup?.toFixed(1)} MB after warm-up, ${rssEnd?.toFixed(1)} MB at the end (${result.rssGrowthPercent?.toFixed(2)}%); every twentieth: ${rssSamples.map(([, mb]) => mb.toFixed(1)).join(', ')} MB`,
)
console.log(`BENCH_RESULT ${JSON.stringify(result)}`)
