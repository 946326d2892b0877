// `npm run bench`: lstm-native against PyTorch and Keras/TensorFlow on the tutorial's two models, same machine, same
// run, alternating. Prints a Markdown table of medians and ratios (figures, never pass/fail) and writes
// bench/results/latest.{md,json} with every raw measurement, and latest.svg, a bar chart of the headline rows. `npm run bench -- --help` lists the options.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { machine, versions } from './lib/machine.mjs'
import { parseOptions, USAGE, WITHOUT_IMDB } from './lib/options.mjs'
import { hasGnuTime } from './lib/proc.mjs'
import { peerPython } from './lib/python.mjs'
import { prepareImdb, quickArchive } from './lib/data.mjs'
import { notes, speedSvg, table } from './lib/report.mjs'
import * as workloads from './lib/workloads.mjs'

const benchDir = dirname(fileURLToPath(import.meta.url))
const repo = dirname(benchDir)
const started = process.hrtime.bigint()
const date = new Date().toISOString()

let opts
try {
  opts = parseOptions(process.argv.slice(2), repo)
} catch (e) {
  console.error(`bench: ${e.message}\n\n${USAGE}`)
  process.exit(2)
}
if (opts.help) {
  console.log(USAGE)
  process.exit(0)
}
if (!existsSync(join(repo, 'dist/cli.js')) || !existsSync(join(repo, 'dist/index.js'))) {
  console.error('bench: dist/ is missing: run `npm run build:ts` first')
  process.exit(2)
}

const cacheDir = join(benchDir, '.cache')
mkdirSync(cacheDir, { recursive: true })
mkdirSync(join(benchDir, 'results'), { recursive: true })
// lstm-native keeps its tokenized IMDB cache here; it is filled before timing, as the peers' NPZ is.
const lstmEnv = { LSTM_NATIVE_CACHE: join(cacheDir, 'lstm-native') }
const ctx = { opts, repo, benchDir, cacheDir, lstmEnv, python: null, npz: null, skip: { torch: null, keras: null } }
const results = { date, argv: process.argv.slice(2), options: opts, machine: machine(), notes: [], workloads: {} }
const needsImdb = opts.only.some((w) => !WITHOUT_IMDB.includes(w))

console.log(`lstm-native bench: ${opts.only.join(', ')}; ${opts.reps} rep(s)${opts.quick ? '; quick sizes' : ''}`)
const load1 = results.machine.loadAverageAtStart[0]
if (load1 > results.machine.cores / 2) console.log(`  note: the machine is busy (1-minute load average ${load1} on ${results.machine.cores} cores): times will be inflated, the peers' OpenMP threads most`)
if (!hasGnuTime()) console.log('  /usr/bin/time -v not found (apt-get install time): peak memory from /proc VmHWM polling')
results.rssMethod = hasGnuTime() ? '/usr/bin/time -v "Maximum resident set size" (kB, the process and its waited-for children)' : '/proc/<pid>/status VmHWM polled every 50 ms'

// ---- the peers' Python ----
let modules
if (!opts.peers) {
  ctx.skip.torch = ctx.skip.keras = '--no-peers'
} else {
  const py = await peerPython({ benchDir, install: opts.install, log: (l) => console.log(`  ${l}`) })
  results.peerPython = { source: py.source, python: py.python, reason: py.reason, modules: py.modules, setupThisRun: py.setup, venvRecord: py.record }
  if (!py.python) {
    ctx.skip.torch = ctx.skip.keras = `no Python for the peers: ${py.reason}`
  } else {
    ctx.python = py.python
    modules = py.modules
    const missing = (names) => names.filter((n) => !modules[n]?.ok).map((n) => `${n} (${modules[n]?.error})`)
    const noTorch = missing(['numpy', 'torch'])
    const noKeras = missing(['numpy', 'tensorflow', 'keras'])
    if (noTorch.length) ctx.skip.torch = `cannot import ${noTorch.join(', ')} with ${py.python}`
    if (noKeras.length) ctx.skip.keras = `cannot import ${noKeras.join(', ')} with ${py.python}`
  }
  for (const [k, script] of [['torch', 'torch_imdb.py'], ['keras', 'keras_imdb.py']]) {
    if (!ctx.skip[k] && !existsSync(join(opts.anchors, script))) ctx.skip[k] = `${join(opts.anchors, script)} not found (--anchors DIR)`
  }
}
results.versions = versions(repo, ctx.python, modules)

// ---- the IMDB arrays ----
if (opts.quick) {
  try {
    opts.data = quickArchive(repo, cacheDir)
  } catch (e) {
    console.log(`  could not cut the quick archive (${e.message}): using the whole bundled sample`)
    opts.data = join(repo, 'data/imdb-sample.tar.gz')
  }
}
if (needsImdb) {
  if (!existsSync(opts.data)) {
    results.notes.push(`IMDB data not found at ${opts.data} (--data TAR): IMDB workloads not run`)
    console.log(`  ${results.notes.at(-1)}`)
  } else {
    results.sameArrays = await prepareImdb(ctx)
  }
}

if (opts.setupOnly) {
  console.log(`set up: python ${ctx.python ?? 'none'}${ctx.npz ? `, ${ctx.npz}` : ''}; skipped peers: ${JSON.stringify(ctx.skip)}`)
  process.exit(0)
}

// ---- the workloads ----
const rows = []
for (const name of workloads.WORKLOAD_ORDER.filter((w) => opts.only.includes(w))) {
  if (!WITHOUT_IMDB.includes(name) && !existsSync(opts.data)) {
    results.workloads[name] = { skipped: `IMDB data not found at ${opts.data}` }
    continue
  }
  console.log(`\n${name}:`)
  const r = await workloads[name](ctx)
  results.workloads[name] = r
  rows.push(...r.rows)
}

// ---- the report ----
results.skipped = ctx.skip
results.rows = rows
results.totalSeconds = Number(process.hrtime.bigint() - started) / 1e9
const md = `# lstm-native bench, ${date}\n\n${table(rows, ctx)}\n\n${notes(ctx, results)}\n`
console.log(`\n${md}`)
writeFileSync(join(benchDir, 'results/latest.md'), md)
const json = JSON.stringify(results, null, 2)
writeFileSync(join(benchDir, 'results/latest.json'), json)
writeFileSync(join(benchDir, `results/${date.replace(/[:.]/g, '-')}.json`), json)
const svg = speedSvg(results)
if (svg) writeFileSync(join(benchDir, 'results/latest.svg'), svg)
console.log(`written: bench/results/latest.md, bench/results/latest.json${svg ? ', bench/results/latest.svg' : ''} (${results.totalSeconds.toFixed(0)} s in all)`)
