// The Markdown table and its notes.
import { TARGETS } from './targets.mjs'
import { fmt, ratio } from './stats.mjs'

const COLUMNS = ['lstm', 'torch', 'keras']

function cell(row, key, ctx) {
  if (!(key in row.cells)) return '—'
  if (key !== 'lstm' && ctx.skip[key]) return 'skipped'
  const v = row.cells[key]
  if (v == null) return row.n[key] === 0 ? 'failed' : '—'
  const reps = row.n[key]
  const partial = reps !== undefined && reps < ctx.opts.reps ? ` (${reps}/${ctx.opts.reps} runs)` : ''
  return `${fmt(v)}${row.unit && row.unit !== '×' ? ` ${row.unit}` : row.unit}${partial}`
}

function ratioCell(row, peer) {
  if (row.ratio === false) return '—'
  const r = ratio(row.cells.lstm, row.cells[peer])
  return r == null ? '—' : `${fmt(r)}×`
}

export function table(rows, ctx) {
  const head = ['workload', 'lstm-native', 'PyTorch', 'Keras/TF', 'ratio vs PyTorch', 'ratio vs Keras/TF', 'target']
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`]
  for (const row of rows) {
    const cells = [row.workload, ...COLUMNS.map((k) => cell(row, k, ctx)), ratioCell(row, 'torch'), ratioCell(row, 'keras'), TARGETS[row.id] ?? '—']
    lines.push(`| ${cells.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`)
  }
  return lines.join('\n')
}

export function notes(ctx, results) {
  const out = [
    `Medians of ${ctx.opts.reps} run${ctx.opts.reps > 1 ? 's' : ''} each, lstm-native and the peers alternating in one session (order rotated each repetition).`,
    'ratio = lstm-native ÷ peer, in the row\'s unit: below 1 means less time or memory; for reviews/s, above 1 means faster.',
    'Wall time: process.hrtime around spawn of the whole process. Peak memory: ' + (results.rssMethod ?? 'n/a') + '.',
  ]
  if (results.sameArrays) {
    const s = results.sameArrays.same
    out.push(s === null ? `Whether the IMDB arrays match is unknown: ${results.sameArrays.error}.` : s ? 'IMDB arrays: identical for lstm-native and the peers (SHA-256 of the padded reviews and labels).' : 'IMDB arrays DIFFER between lstm-native and the peers\' NPZ (see sameArrays in the JSON).')
  }
  for (const [k, reason] of Object.entries(ctx.skip)) if (reason) out.push(`${k === 'torch' ? 'PyTorch' : 'Keras/TF'} skipped: ${reason}`)
  for (const [w, r] of Object.entries(results.workloads)) {
    for (const [k, runs] of Object.entries(r.runs ?? {})) for (const f of runs.filter((x) => !x.ok)) out.push(`${w} / ${k} run ${f.rep} failed: ${f.error.split('\n')[0]}`)
    if (r.skipped) out.push(`${w}: not run: ${r.skipped}`)
  }
  const loads = Object.values(results.workloads).flatMap((w) => Object.values(w.runs ?? {}).flat().map((r) => r.loadAverage))
  if (loads.length) out.push(`1-minute load average as each run started: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} on ${results.machine.cores} cores (above the core count, other work shared the CPU and the figures are inflated).`)
  const m = results.machine
  const v = results.versions
  out.push(`Machine: ${m.cpuModel}, ${m.cores} cores${m.hypervisor ? ` (${m.hypervisor} VM)` : ''}, ${m.memoryGiB} GiB; load average at start ${m.loadAverageAtStart.join(' ')}.`)
  out.push(`Versions: lstm-native ${v.lstmNative} (${v.commit}), node ${v.node}${v.python ? `, python ${v.python}, torch ${v.torch}, tensorflow ${v.tensorflow}, keras ${v.keras}, numpy ${v.numpy}` : ''}.`)
  return out.map((l) => `- ${l}`).join('\n')
}
