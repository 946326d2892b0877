// The five workloads. Each runs lstm-native and the peers through `alternate` and returns table rows:
// { id, workload, unit, better, cells: { lstm, torch, keras } (medians or null), n: { ... } } plus its raw runs.
import { join } from 'node:path'
import { alternate, benchResult, grab, values } from './measure.mjs'
import { fmt, median } from './stats.mjs'

const PEERS = [
  ['torch', 'PyTorch'],
  ['keras', 'Keras/TF'],
]

/** A runner for a peer script, or a skipped placeholder when that peer is unavailable. */
function peer(ctx, key, script, args, parse, summary) {
  const label = Object.fromEntries(PEERS)[key]
  if (ctx.skip[key]) return { key, label, skipped: ctx.skip[key] }
  return { key, label, cmd: ctx.python, args: [script, ...args], parse, summary }
}

const node = (ctx, args) => ({ cmd: process.execPath, args, env: ctx.lstmEnv, cwd: ctx.repo })
const med = (runs, field) => median(values(runs, field))
const count = (runs) => (runs ?? []).filter((r) => r.ok).length

function row(id, workload, unit, better, cells, runs, extra = {}) {
  return { id, workload, unit, better, cells, n: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, count(v)])), ...extra }
}

/** 1 and 4: whole-process IMDB training (load + fit + 25,000-review test pass), wall time and peak RSS. */
export async function imdb(ctx) {
  const { opts } = ctx
  const cli = (threads) => [join(ctx.repo, 'dist/cli.js'), 'train', 'imdb', '--data', opts.data, '--epochs', String(opts.epochs), '--threads', String(threads), '--no-shuffle']
  const parseLstm = (r) => ({ testAccuracy: grab(r.stdout, /test accuracy: ([\d.]+)/, '"test accuracy"'), reportedSeconds: grab(r.stdout, /done in ([\d.]+) s/, '"done in N s"') })
  const parsePeer = (prefix) => (r) => {
    const epochs = [...r.stdout.matchAll(new RegExp(`^${prefix}.*epoch (\\d+) train_s ([\\d.]+) loss ([\\d.]+) test_acc ([\\d.]+) infer_reviews_per_s (\\d+)`, 'gm'))]
    if (epochs.length !== opts.epochs) throw new Error(`expected ${opts.epochs} epoch line(s), found ${epochs.length}`)
    const last = epochs.at(-1)
    return { trainSeconds: epochs.map((m) => Number(m[2])), testAccuracy: Number(last[4]), inferReviewsPerSecond: Number(last[5]) }
  }
  const acc = (f) => `test accuracy ${f.testAccuracy.toFixed(4)}`
  const runners = [
    { key: 'lstm', label: `lstm-native (${opts.threads} threads)`, ...node(ctx, cli(opts.threads)), parse: parseLstm, summary: acc },
    peer(ctx, 'torch', join(opts.anchors, 'torch_imdb.py'), [ctx.npz, String(opts.epochs), String(opts.threads)], parsePeer('torch'), acc),
    peer(ctx, 'keras', join(opts.anchors, 'keras_imdb.py'), [ctx.npz, String(opts.epochs), String(opts.threads)], parsePeer('keras'), acc),
  ]
  if (opts.threads !== 1) runners.splice(1, 0, { key: 'lstm1', label: 'lstm-native (1 thread)', ...node(ctx, cli(1)), parse: parseLstm, summary: acc })
  const runs = await alternate(ctx, 'imdb', runners)
  const three = (field) => ({ lstm: med(runs.lstm, field), torch: med(runs.torch, field), keras: med(runs.keras, field) })
  const what = opts.quick ? 'quick: 200 + 200 reviews' : '25,000 + 25,000 reviews'
  const rows = [
    row('imdb-train', `IMDB training, ${opts.epochs} epoch${opts.epochs > 1 ? 's' : ''}, whole process (${what}), ${opts.threads} threads`, 's', 'lower', three('wallSeconds'), runs),
  ]
  if (runs.lstm1) {
    const one = med(runs.lstm1, 'wallSeconds')
    const two = med(runs.lstm, 'wallSeconds')
    rows.push(row('imdb-train-1t', 'IMDB training, lstm-native at 1 thread', 's', 'lower', { lstm: one }, { lstm: runs.lstm1 }))
    rows.push(row('imdb-speedup', `lstm-native speed-up, 1 → ${opts.threads} threads`, '×', 'higher', { lstm: one && two ? one / two : null }, { lstm: runs.lstm }))
  }
  rows.push(row('imdb-rss', 'Peak resident memory during IMDB training', 'MB', 'lower', three('peakRssMb'), runs))
  rows.push(row('imdb-acc', 'Test accuracy after that training (a check, not a race)', '', 'higher', three('testAccuracy'), runs, { ratio: false }))
  if (runs.torch?.length || runs.keras?.length) {
    rows.push(row('imdb-anchor-infer', "Inference printed by the anchors' training runs, batch 500", 'reviews/s', 'higher', { torch: med(runs.torch, 'inferReviewsPerSecond'), keras: med(runs.keras, 'inferReviewsPerSecond') }, { torch: runs.torch ?? [], keras: runs.keras ?? [] }))
  }
  return { runs, rows }
}

/** 2: inference throughput on the test reviews at batch 500 (random weights; model build and data load not timed). */
export async function infer(ctx) {
  const { opts } = ctx
  const parse = (r) => benchResult(r.stdout)
  const rps = (f) => `${fmt(f.reviewsPerSecond)} reviews/s`
  const threads = String(opts.threads)
  const runners = [
    { key: 'lstm', label: `lstm-native (${opts.threads} threads)`, ...node(ctx, [join(ctx.benchDir, 'imdb-infer.mjs'), '--data', opts.data, '--threads', threads, '--batch', '500']), parse, summary: rps },
    peer(ctx, 'torch', join(ctx.benchDir, 'peers/torch_imdb_infer.py'), [ctx.npz, threads, '500'], parse, rps),
    peer(ctx, 'keras', join(ctx.benchDir, 'peers/keras_imdb_infer.py'), [ctx.npz, threads, '500'], parse, rps),
  ]
  const runs = await alternate(ctx, 'infer', runners)
  const cells = { lstm: med(runs.lstm, 'reviewsPerSecond'), torch: med(runs.torch, 'reviewsPerSecond'), keras: med(runs.keras, 'reviewsPerSecond') }
  const n = values(runs.lstm, 'reviews')[0]
  return { runs, rows: [row('infer', `IMDB inference, ${n ? n.toLocaleString('en-US') : 'all'} test reviews, batch 500, ${opts.threads} threads`, 'reviews/s', 'higher', cells, runs)] }
}

/** 3: next-word training, ms per single-sample step. */
export async function words(ctx) {
  const { opts } = ctx
  const S = opts.steps
  const parseLstm = (r) => {
    const inLoop = grab(r.stdout, new RegExp(`Iteration = ${S},[^\\n]*\\(([\\d.]+) s\\)`), `the "Iteration = ${S}" line`)
    return { steps: S, msPerStepWall: (r.seconds / S) * 1000, msPerStepInLoop: (inLoop / S) * 1000, finalAccuracy: grab(r.stdout, /final 1,000-step average accuracy: ([\d.]+)%/, 'the final accuracy') / 100 }
  }
  // Both probes print "<name> words X ms/step" for each of 3 timed runs (after a warm-up); the run's figure is their median.
  const probe = (name) => (r) => {
    const ms = [...r.stdout.matchAll(new RegExp(`${name} words ([\\d.]+) ms/step`, 'g'))].map((m) => Number(m[1]))
    if (!ms.length) throw new Error(`no "${name} words N ms/step" line`)
    return { msPerStepSamples: ms, msPerStep: median(ms) }
  }
  const ms = (f) => `${fmt(f.msPerStepWall ?? f.msPerStep)} ms/step`
  const runners = [
    { key: 'lstm', label: `lstm-native (${S} steps, ${opts.threads} threads)`, ...node(ctx, [join(ctx.repo, 'dist/cli.js'), 'train', 'words', '--steps', String(S), '--threads', String(opts.threads)]), parse: parseLstm, summary: ms },
    peer(ctx, 'torch', join(ctx.benchDir, 'peers/torch_words_probe.py'), [String(opts.torchWordsSteps), String(opts.threads)], probe('torch'), ms),
    // tf_words_probe.py sets 2 threads itself and times 3 x 200 steps after 5 warm-up steps.
    ctx.skip.keras ? { key: 'keras', label: 'TensorFlow', skipped: ctx.skip.keras } : { key: 'keras', label: 'TensorFlow (tf_words_probe.py, always 2 threads)', cmd: ctx.python, args: [join(opts.anchors, 'tf_words_probe.py')], parse: probe('tf2'), summary: ms },
  ]
  const runs = await alternate(ctx, 'words', runners)
  const peers = { torch: med(runs.torch, 'msPerStep'), keras: med(runs.keras, 'msPerStep') }
  return {
    runs,
    rows: [
      row('words-wall', `Next-word training step, lstm-native whole process ÷ ${S.toLocaleString('en-US')} steps (peers: in their loop)`, 'ms/step', 'lower', { lstm: med(runs.lstm, 'msPerStepWall'), ...peers }, runs),
      row('words-loop', 'Next-word training step, inside the training loop (start-up excluded)', 'ms/step', 'lower', { lstm: med(runs.lstm, 'msPerStepInLoop'), ...peers }, runs),
    ],
  }
}

/** 5: the longest gap a 5 ms setInterval sees while lstm-native trains IMDB through the API. */
export async function lag(ctx) {
  const { opts } = ctx
  const parse = (r) => benchResult(r.stdout)
  const runners = [
    { key: 'lstm', label: `lstm-native API (${opts.threads} threads)`, ...node(ctx, [join(ctx.benchDir, 'imdb-lag.mjs'), '--data', opts.data, '--epochs', String(opts.epochs), '--threads', String(opts.threads)]), parse, summary: (f) => `max gap ${fmt(f.maxGapMs)} ms (fit ${fmt(f.phases.fit?.maxGapMs)} ms, load ${fmt(f.phases.load?.maxGapMs)} ms)` },
  ]
  const runs = await alternate(ctx, 'lag', runners)
  const phase = (name) => med(runs.lstm, (r) => r.phases[name]?.maxGapMs)
  return {
    runs,
    rows: [
      row('lag-max', 'Event-loop lag: longest gap of a 5 ms timer, whole IMDB training run (load, fit, test pass)', 'ms', 'lower', { lstm: med(runs.lstm, 'maxGapMs') }, runs),
      row('lag-fit', 'Event-loop lag: longest gap during fit only', 'ms', 'lower', { lstm: phase('fit') }, runs),
      row('lag-load', 'Event-loop lag: longest gap while loading the dataset', 'ms', 'lower', { lstm: phase('load') }, runs),
    ],
  }
}

/**
 * 6: the IMDB model behind `lstm-native serve` (with and without batching) and behind FastAPI/uvicorn with PyTorch,
 * single-review requests from autocannon at 1, 16 and 64 connections (bench/serve.mjs), and predict from JS.
 */
export async function serve(ctx) {
  const { opts } = ctx
  const args = [join(ctx.benchDir, 'serve.mjs'), '--threads', String(opts.threads), '--seconds', opts.quick ? '3' : '10']
  // The peer is bench/peers' own script, so only the Python matters (not the anchors folder).
  if (ctx.python) args.push('--python', ctx.python)
  const runners = [{ key: 'lstm', label: 'lstm-native serve and FastAPI/PyTorch, alternating (bench/serve.mjs)', ...node(ctx, args), parse: (r) => benchResult(r.stdout) }]
  const runs = await alternate(ctx, 'serve', runners)
  const at = (server, c, field) => med(runs.lstm, (r) => r[server]?.[c]?.[field])
  const rows = []
  for (const c of [1, 16, 64]) {
    rows.push(row(`serve-rps-${c}`, `lstm-native serve, batching (peer: FastAPI + PyTorch): requests/s at ${c} connection${c > 1 ? 's' : ''}`, 'req/s', 'higher', { lstm: at('batched', c, 'rps'), torch: at('torch', c, 'rps') }, runs))
    rows.push(row(`serve-p99-${c}`, `  p99 latency at ${c} connection${c > 1 ? 's' : ''}`, 'ms', 'lower', { lstm: at('batched', c, 'p99'), torch: at('torch', c, 'p99') }, runs))
    rows.push(row(`serve-nobatch-rps-${c}`, `lstm-native serve --max-batch 1 (no batching): requests/s at ${c} connection${c > 1 ? 's' : ''}`, 'req/s', 'higher', { lstm: at('unbatched', c, 'rps') }, runs))
  }
  rows.push(row('serve-lag', 'lstm-native serve: longest gap of a 5 ms timer in the server at 64 connections', 'ms', 'lower', { lstm: at('batched', 64, 'eventLoopMaxGapMs') }, runs))
  rows.push(row('serve-js-batched', 'predict from JS, 64 concurrent single-review callers, enableBatching()', 'pred/s', 'higher', { lstm: med(runs.lstm, (r) => r.jsPredict?.batched) }, runs))
  rows.push(row('serve-js-unbatched', 'predict from JS, 64 concurrent single-review callers, no batching', 'pred/s', 'higher', { lstm: med(runs.lstm, (r) => r.jsPredict?.unbatched) }, runs))
  return { runs, rows }
}

/** The order in which `npm run bench` runs them. */
export const WORKLOAD_ORDER = ['imdb', 'infer', 'words', 'lag', 'serve']
