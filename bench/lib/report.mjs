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

// ---- the chart ----

/** The rows the chart draws, in order: one group of bars each (lstm-native and the peers that ran). */
export const CHART_ROWS = [
  { id: 'imdb-train', title: 'IMDB, one training epoch, whole process', note: 'seconds, shorter is faster' },
  { id: 'infer', title: 'IMDB inference, batch 500', note: 'reviews per second, longer is faster' },
  { id: 'words-wall', title: 'Next-word model, one training step', note: 'milliseconds, shorter is faster' },
]

const SERIES = [
  { key: 'lstm', label: 'lstm-native', color: '#1f6feb' },
  { key: 'torch', label: 'PyTorch', color: '#d1731f' },
  { key: 'keras', label: 'Keras/TF', color: '#6e7781' },
]

const escapeXml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c])

/** Splits a caption into lines of at most `width` characters, at spaces. */
function wrap(text, width) {
  const lines = []
  let line = ''
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  if (line) lines.push(line)
  return lines
}

/** What the chart says about where its figures come from: `results.caption` when given, else the run's machine, commit and date. */
export function chartCaption(results) {
  if (results.caption) return results.caption
  const m = results.machine ?? {}
  const v = results.versions ?? {}
  const reps = results.options?.reps
  return [
    `npm run bench, ${results.date ?? 'undated'}`,
    reps ? `medians of ${reps} run${reps > 1 ? 's' : ''}` : '',
    `lstm-native ${v.lstmNative ?? '?'}${v.commit ? ` (${v.commit})` : ''}`,
    m.cpuModel ? `${m.cpuModel}, ${m.cores} cores` : '',
    results.options?.threads ? `${results.options.threads} threads` : '',
  ]
    .filter(Boolean)
    .join('; ')
}

/**
 * The headline figures as an SVG bar chart: one group per workload of CHART_ROWS found in `results.rows` (the JSON
 * run.mjs writes), a bar per framework scaled to the largest in its group, each labelled with its value. A group
 * whose lstm-native figure is missing is left out. Returns null when no group has figures.
 */
export function speedSvg(results) {
  const W = 760
  const left = 112
  const right = 205
  const barH = 18
  const gap = 4
  const rows = CHART_ROWS.map((spec) => ({ spec, row: (results.rows ?? []).find((r) => r.id === spec.id) })).filter(({ row }) => row && typeof row.cells?.lstm === 'number')
  if (!rows.length) return null
  const captionLines = wrap(`Source: ${chartCaption(results)}`, 112)
  const out = []
  let y = 34
  for (const { spec, row } of rows) {
    const bars = SERIES.filter((s) => typeof row.cells[s.key] === 'number').map((s) => ({ ...s, value: row.cells[s.key] }))
    const max = Math.max(...bars.map((b) => b.value))
    out.push(`<text x="16" y="${y + 14}" class="group">${escapeXml(spec.title)}</text>`)
    out.push(`<text x="${W - 16}" y="${y + 14}" class="note" text-anchor="end">${escapeXml(spec.note)}</text>`)
    y += 24
    for (const b of bars) {
      const len = Math.max(1, ((W - left - right) * b.value) / max)
      const unit = row.unit && row.unit !== '×' ? ` ${row.unit}` : ''
      const times = b.key === 'lstm' ? '' : ` (${fmt(row.better === 'higher' ? row.cells.lstm / b.value : b.value / row.cells.lstm)}× slower)`
      out.push(`<text x="${left - 8}" y="${y + barH - 5}" class="label" text-anchor="end">${escapeXml(b.label)}</text>`)
      out.push(`<rect x="${left}" y="${y}" width="${len.toFixed(1)}" height="${barH}" fill="${b.color}" rx="2"><title>${escapeXml(`${b.label}: ${fmt(b.value)}${unit}`)}</title></rect>`)
      out.push(`<text x="${(left + len + 6).toFixed(1)}" y="${y + barH - 5}" class="value${b.key === 'lstm' ? ' ours' : ''}">${escapeXml(`${fmt(b.value)}${unit}${times}`)}</text>`)
      y += barH + gap
    }
    y += 14
  }
  for (const line of captionLines) {
    out.push(`<text x="16" y="${y + 10}" class="caption">${escapeXml(line)}</text>`)
    y += 15
  }
  const H = y + 10
  const title = 'lstm-native against PyTorch and Keras/TensorFlow on the same machine'
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="t d">`,
    `<title id="t">${escapeXml(title)}</title>`,
    `<desc id="d">${escapeXml(rows.map(({ spec, row }) => `${spec.title}: ${SERIES.filter((s) => typeof row.cells[s.key] === 'number').map((s) => `${s.label} ${fmt(row.cells[s.key])} ${row.unit}`).join(', ')}`).join('. '))}</desc>`,
    '<style>text{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;fill:#1f2328}.group{font-size:14px;font-weight:600}.note{font-size:12px;fill:#57606a}.label{font-size:13px}.value{font-size:12px}.ours{font-weight:600}.caption{font-size:11px;fill:#57606a}</style>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="16" y="22" style="font-size:15px;font-weight:600">${escapeXml(title)}</text>`,
    ...out,
    '</svg>',
    '',
  ].join('\n')
}
