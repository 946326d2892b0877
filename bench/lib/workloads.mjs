// The workloads. Each runs lstm-native and the peers through `alternate` and returns table rows:
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

/** lstm-native's `train imdb` figures: the test accuracy, its own "done in" time and each epoch's time from the progress lines. */
const parseLstmImdb = (r) => ({
  testAccuracy: grab(r.stdout, /test accuracy: ([\d.]+)/, '"test accuracy"'),
  reportedSeconds: grab(r.stdout, /done in ([\d.]+) s/, '"done in N s"'),
  // "Epoch 1/1  391/391 [====] 14s 36ms/step - ...": steps × ms/step (the whole-second figure is too coarse).
  trainSeconds: [...r.stdout.matchAll(/^Epoch \d+\/\d+ +(\d+)\/\d+ \[=+\] \S+ (\d+)ms\/step/gm)].map((m) => (Number(m[1]) * Number(m[2])) / 1000),
})

/** A peer's per-epoch lines, `<prefix> ... epoch E train_s T loss L test_acc A infer_reviews_per_s R`, one per epoch. */
const parsePeerImdb = (prefix, epochs) => (r) => {
  const lines = [...r.stdout.matchAll(new RegExp(`^${prefix}.*epoch (\\d+) train_s ([\\d.]+) loss ([\\d.]+) test_acc ([\\d.]+) infer_reviews_per_s (\\d+)`, 'gm'))]
  if (lines.length !== epochs) throw new Error(`expected ${epochs} epoch line(s), found ${lines.length}`)
  const last = lines.at(-1)
  return { trainSeconds: lines.map((m) => Number(m[2])), testAccuracy: Number(last[4]), inferReviewsPerSecond: Number(last[5]) }
}

/**
 * Whole-process IMDB training of one model (load + fit + 25,000-review test pass): wall time, peak RSS, test
 * accuracy, and the training loop's own time per epoch. `cliArgs` select the model in `lstm-native train imdb`;
 * `peers` are [key, script, extra args] run as `script NPZ EPOCHS THREADS ...extra`.
 */
async function imdbTraining(ctx, { name, title, cliArgs, peers, oneThread = false }) {
  const { opts } = ctx
  const cli = (threads) => [join(ctx.repo, 'dist/cli.js'), 'train', 'imdb', ...cliArgs, '--data', opts.data, '--epochs', String(opts.epochs), '--threads', String(threads), '--no-shuffle']
  const acc = (f) => `test accuracy ${f.testAccuracy.toFixed(4)}`
  const prefix = { torch: 'torch', keras: 'keras' }
  const runners = [
    { key: 'lstm', label: `lstm-native (${opts.threads} threads)`, ...node(ctx, cli(opts.threads)), parse: parseLstmImdb, summary: acc },
    ...peers.map(([key, script, extra]) => peer(ctx, key, script, [ctx.npz, String(opts.epochs), String(opts.threads), ...extra], parsePeerImdb(prefix[key], opts.epochs), acc)),
  ]
  if (oneThread && opts.threads !== 1) runners.splice(1, 0, { key: 'lstm1', label: 'lstm-native (1 thread)', ...node(ctx, cli(1)), parse: parseLstmImdb, summary: acc })
  const runs = await alternate(ctx, name, runners)
  const three = (field) => ({ lstm: med(runs.lstm, field), torch: med(runs.torch, field), keras: med(runs.keras, field) })
  const what = opts.quick ? 'quick: 200 + 200 reviews' : '25,000 + 25,000 reviews'
  const rows = [
    row(`${name}-train`, `${title}, ${opts.epochs} epoch${opts.epochs > 1 ? 's' : ''}, whole process (${what}), ${opts.threads} threads`, 's', 'lower', three('wallSeconds'), runs),
  ]
  if (runs.lstm1) {
    const one = med(runs.lstm1, 'wallSeconds')
    const two = med(runs.lstm, 'wallSeconds')
    rows.push(row(`${name}-train-1t`, `${title}, lstm-native at 1 thread`, 's', 'lower', { lstm: one }, { lstm: runs.lstm1 }))
    rows.push(row(`${name}-speedup`, `lstm-native speed-up, 1 → ${opts.threads} threads`, '×', 'higher', { lstm: one && two ? one / two : null }, { lstm: runs.lstm }))
  }
  if (name !== 'imdb') {
    // The training loop alone (no load, no test pass), first epoch: what the peers print and lstm-native's progress line.
    rows.push(row(`${name}-epoch`, `${title}, training loop of the first epoch only`, 's', 'lower', three((r) => r.trainSeconds?.[0]), runs))
  }
  rows.push(row(`${name}-rss`, `Peak resident memory during ${title}`, 'MB', 'lower', three('peakRssMb'), runs))
  rows.push(row(`${name}-acc`, `Test accuracy after ${title} (a check, not a race)`, '', 'higher', three('testAccuracy'), runs, { ratio: false }))
  if (runs.torch?.length || runs.keras?.length) {
    rows.push(row(`${name}-anchor-infer`, `Inference printed by the peers' ${title} runs, batch 500`, 'reviews/s', 'higher', { torch: med(runs.torch, 'inferReviewsPerSecond'), keras: med(runs.keras, 'inferReviewsPerSecond') }, { torch: runs.torch ?? [], keras: runs.keras ?? [] }))
  }
  return { runs, rows }
}

/** 1 and 4: the tutorial's model, at the chosen threads and at 1 thread. */
export const imdb = (ctx) =>
  imdbTraining(ctx, {
    name: 'imdb',
    title: 'IMDB training',
    cliArgs: [],
    peers: [
      ['torch', join(ctx.opts.anchors, 'torch_imdb.py'), []],
      ['keras', join(ctx.opts.anchors, 'keras_imdb.py'), []],
    ],
    oneThread: true,
  })

/** The tutorial's model changed by `cliArgs`, against bench/peers/{torch,keras}_imdb_rnn.py's `model`. */
const variant = (name, title, cliArgs, model) => (ctx) =>
  imdbTraining(ctx, {
    name,
    title,
    cliArgs,
    peers: ['torch', 'keras'].map((key) => [key, join(ctx.benchDir, `peers/${key}_imdb_rnn.py`), [model]]),
  })

/** 6: the tutorial's model with a GRU in place of the LSTM. */
export const gru = variant('gru', 'GRU IMDB training', ['--cell', 'gru'], 'gru')

/** 7: the tutorial's model with Conv1D(64, 5, relu) + MaxPooling1D(4) before the LSTM. */
export const cnn = variant('cnn', 'CNN+LSTM IMDB training', ['--conv', '64,5,4'], 'cnn')

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

/**
 * A parser of the probes' lines "<name> <what> X ms/step", one per timed run (after a warm-up): the run's figure is
 * their median.
 */
const stepLines = (name, what) => (r) => {
  const ms = [...r.stdout.matchAll(new RegExp(`${name} ${what} ([\\d.]+) ms/step`, 'g'))].map((m) => Number(m[1]))
  if (!ms.length) throw new Error(`no "${name} ${what} N ms/step" line`)
  return { msPerStepSamples: ms, msPerStep: median(ms) }
}

/** 3: next-word training, ms per single-sample step. */
export async function words(ctx) {
  const { opts } = ctx
  const S = opts.steps
  const parseLstm = (r) => {
    const inLoop = grab(r.stdout, new RegExp(`Iteration = ${S},[^\\n]*\\(([\\d.]+) s\\)`), `the "Iteration = ${S}" line`)
    return { steps: S, msPerStepWall: (r.seconds / S) * 1000, msPerStepInLoop: (inLoop / S) * 1000, finalAccuracy: grab(r.stdout, /final 1,000-step average accuracy: ([\d.]+)%/, 'the final accuracy') / 100 }
  }
  const probe = (name) => stepLines(name, 'words')
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

/** `generate`'s step: batch-1 `predictStep` on the tutorial's next-word model, against PyTorch's LSTM stepped in a loop. */
export async function generate(ctx) {
  const { opts } = ctx
  const N = String(opts.generateSteps)
  const probe = (name) => stepLines(name, 'generate')
  const ms = (f) => `${fmt(f.msPerStep)} ms/step`
  const runners = [
    { key: 'lstm', label: `lstm-native predictStep (3 × ${N} steps, ${opts.threads} threads)`, ...node(ctx, [join(ctx.benchDir, 'words-step.mjs'), N, String(opts.threads)]), parse: probe('lstm'), summary: ms },
    peer(ctx, 'torch', join(ctx.benchDir, 'peers/torch_words_step.py'), [N, String(opts.threads)], probe('torch'), ms),
  ]
  const runs = await alternate(ctx, 'generate', runners)
  return {
    runs,
    rows: [row('generate', '`generate` per word: batch-1 step of the next-word model (2 × LSTM(512)), states carried', 'ms/step', 'lower', { lstm: med(runs.lstm, 'msPerStep'), torch: med(runs.torch, 'msPerStep') }, runs)],
  }
}

/**
 * 5: the longest gap a 5 ms setInterval sees while lstm-native trains IMDB: `trainImdb` through the API (by phase),
 * the README's API steps (`--api`), and the CLI process as a whole (bench/lag-probe.mjs preloaded).
 */
export async function lag(ctx) {
  const { opts } = ctx
  const parse = (r) => benchResult(r.stdout)
  const parseProbe = (r) => {
    const line = r.stderr.split('\n').find((l) => l.startsWith('LAG_PROBE '))
    if (!line) throw new Error('no LAG_PROBE line on stderr')
    return JSON.parse(line.slice('LAG_PROBE '.length))
  }
  const script = (...extra) => node(ctx, [join(ctx.benchDir, 'imdb-lag.mjs'), '--data', opts.data, '--epochs', String(opts.epochs), '--threads', String(opts.threads), ...extra])
  const summary = (f) => `max gap ${fmt(f.maxGapMs)} ms (fit ${fmt(f.phases.fit?.maxGapMs)} ms, load ${fmt(f.phases.load?.maxGapMs)} ms)`
  const cli = ['--import', join(ctx.benchDir, 'lag-probe.mjs'), join(ctx.repo, 'dist/cli.js'), 'train', 'imdb', '--data', opts.data, '--epochs', String(opts.epochs), '--threads', String(opts.threads), '--no-shuffle']
  const runners = [
    { key: 'lstm', label: `trainImdb through the API (${opts.threads} threads)`, ...script(), parse, summary },
    { key: 'api', label: "the README's API steps: load, padSequences, fit, evaluate", ...script('--api'), parse, summary },
    { key: 'cli', label: 'lstm-native train imdb, the whole process', ...node(ctx, cli), parse: parseProbe, summary: (f) => `max gap ${fmt(f.maxGapMs)} ms` },
  ]
  const runs = await alternate(ctx, 'lag', runners)
  const phase = (name) => med(runs.lstm, (r) => r.phases[name]?.maxGapMs)
  return {
    runs,
    rows: [
      row('lag-max', 'Event-loop lag: longest gap of a 5 ms timer, whole IMDB training run (`trainImdb`: load, fit, test pass)', 'ms', 'lower', { lstm: med(runs.lstm, 'maxGapMs') }, { lstm: runs.lstm }),
      row('lag-fit', 'Event-loop lag: longest gap during fit only', 'ms', 'lower', { lstm: phase('fit') }, { lstm: runs.lstm }),
      row('lag-load', 'Event-loop lag: longest gap while loading the dataset', 'ms', 'lower', { lstm: phase('load') }, { lstm: runs.lstm }),
      row('lag-cli', 'Event-loop lag: longest gap of the whole `lstm-native train imdb` process (from its first tick)', 'ms', 'lower', { lstm: med(runs.cli, 'maxGapMs') }, { lstm: runs.cli }),
      row('lag-api', "Event-loop lag: longest gap of the README's API steps (an array per review, padSequences)", 'ms', 'lower', { lstm: med(runs.api, 'maxGapMs') }, { lstm: runs.api }),
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
export const WORKLOAD_ORDER = ['imdb', 'gru', 'cnn', 'infer', 'words', 'generate', 'lag', 'serve']
