// Repeated, alternating measurement: each repetition runs every runner once, the order rotated by one per
// repetition, so that lstm-native and the peers share the machine's slow and fast moments alike.
import { readFileSync } from 'node:fs'
import { run } from './proc.mjs'
import { fmt } from './stats.mjs'

/** The object printed on a program's `BENCH_RESULT {...}` line. */
export function benchResult(stdout) {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith('BENCH_RESULT '))
  if (!line) throw new Error('no BENCH_RESULT line in the output')
  return JSON.parse(line.slice('BENCH_RESULT '.length))
}

/** A number captured by `re` (group 1) in `text`, or an error naming what was looked for. */
export function grab(text, re, what) {
  const m = re.exec(text)
  if (!m) throw new Error(`could not find ${what} in the output`)
  return Number(m[1])
}

const tail = (s, n = 4) => s.trim().split('\n').slice(-n).join('\n    ')

/**
 * runners: [{ key, label, cmd, args, cwd?, env?, parse(result) -> object of figures }] (or { key, label, skipped }).
 * Returns { key: [ { rep, ok, wallSeconds, peakRssMb, loadAverage (1-min, at the start), ...figures } | { rep, ok: false, error } ] }.
 */
export async function alternate(ctx, name, runners, reps = ctx.opts.reps) {
  const live = runners.filter((r) => !r.skipped)
  const out = Object.fromEntries(live.map((r) => [r.key, []]))
  for (let rep = 0; rep < reps; rep++) {
    const order = live.map((_, i) => live[(i + rep) % live.length])
    for (const r of order) {
      const loadAverage = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
      process.stdout.write(`  [${name} ${rep + 1}/${reps}] ${r.label} … `)
      const onLine = ctx.opts.verbose ? (l) => process.stdout.write(`\n    | ${l}`) : undefined
      const res = await run(r.cmd, r.args, { cwd: r.cwd ?? ctx.cacheDir, env: r.env, onLine })
      if (ctx.opts.verbose) process.stdout.write('\n    ')
      // Figures a program reports go under their own names; the harness's own measurements are set last so none is overwritten.
      const base = { rep: rep + 1, wallSeconds: res.seconds, peakRssMb: res.peakRssMb, peakRssMethod: res.peakRssMethod, loadAverage }
      if (res.code !== 0) {
        const error = `exit ${res.code ?? res.signal}: ${tail(res.stderr || res.stdout)}`
        out[r.key].push({ ...base, ok: false, error })
        console.log(`failed (${error})`)
        continue
      }
      try {
        const figures = r.parse(res)
        out[r.key].push({ ...figures, ...base, ok: true })
        console.log(`${fmt(res.seconds)} s wall${res.peakRssMb ? `, ${fmt(res.peakRssMb)} MB peak RSS` : ''}${r.summary ? `, ${r.summary(figures)}` : ''}`)
      } catch (e) {
        const error = `${e.message}; output ends:\n    ${tail(res.stdout)}\n    ${tail(res.stderr)}`
        out[r.key].push({ ...base, ok: false, error })
        console.log(`unreadable (${error})`)
      }
    }
  }
  return out
}

/** The values of `field` over the successful runs of one runner. */
export const values = (runs, field) => (runs ?? []).filter((r) => r.ok).map((r) => (typeof field === 'function' ? field(r) : r[field]))
