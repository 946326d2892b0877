// Summarises bench/series.sh's JSON lines as a Markdown table: per series, each engine's test MAE per seed, their
// mean, the ratio of the means, the last-value baseline and the median time `fit` took.
// Usage: node bench/series-summary.mjs [bench/results/series.jsonl]
import { readFileSync } from 'node:fs'

const file = process.argv[2] ?? 'bench/results/series.jsonl'
const runs = new Map()
for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
  const r = JSON.parse(line)
  // A rerun of the same seed replaces the earlier line (lstm-native's runs are deterministic; Keras's nearly).
  runs.set(`${r.csv}|${r.window}|${r.engine}|${r.seed}`, r)
}
const groups = new Map()
for (const r of runs.values()) {
  const key = `${r.csv}|${r.column}|${r.window}`
  if (!groups.has(key)) groups.set(key, { native: [], keras: [] })
  groups.get(key)[r.engine === 'keras' ? 'keras' : 'native'].push(r)
}
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]
const f = (v, d = 3) => (Math.abs(v) >= 10 ? v.toFixed(2) : v.toFixed(d))
console.log('| series (column, window) | lstm-native test MAE by seed (mean) | Keras test MAE by seed (mean) | lstm-native ÷ Keras | last value | fit time, lstm-native / Keras |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const [key, { native, keras }] of groups) {
  const [csv, column, window] = key.split('|')
  const by = (rs) => rs.sort((a, b) => a.seed - b.seed)
  const cell = (rs) => (rs.length ? `${by(rs).map((r) => f(r.mae)).join(', ')} (**${f(mean(rs.map((r) => r.mae)))}**)` : '—')
  const ratio = native.length && keras.length ? (mean(native.map((r) => r.mae)) / mean(keras.map((r) => r.mae))).toFixed(3) : '—'
  const base = (native[0] ?? keras[0]).baseline_mae
  const time = `${native.length ? median(native.map((r) => r.fit_seconds)).toFixed(1) : '—'} s / ${keras.length ? median(keras.map((r) => r.fit_seconds)).toFixed(1) : '—'} s`
  console.log(`| ${csv.replace(/^data\//, '')} (${column}, ${window}) | ${cell(native)} | ${cell(keras)} | ${ratio} | ${f(base)} | ${time} |`)
}
