/** A small SVG chart of a History: loss and accuracy per epoch, training and validation. */
import type { History } from './callbacks.js'

const COLORS: Record<string, string> = { loss: '#1f77b4', val_loss: '#ff7f0e', accuracy: '#2ca02c', val_accuracy: '#d62728' }

function panel(title: string, series: [string, number[]][], x0: number, width: number, height: number): string {
  const values = series.flatMap(([, v]) => v).filter(Number.isFinite)
  if (values.length === 0) return ''
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5]
  const pad = 40
  const epochs = Math.max(...series.map(([, v]) => v.length))
  const px = (i: number) => x0 + pad + (epochs > 1 ? (i * (width - 2 * pad)) / (epochs - 1) : (width - 2 * pad) / 2)
  const py = (v: number) => height - pad - ((v - lo) * (height - 2 * pad)) / (hi - lo)
  const lines = series
    .map(([name, v], k) => {
      const pts = v.map((y, i) => `${px(i).toFixed(1)},${py(y).toFixed(1)}`).join(' ')
      const dots = v.map((y, i) => `<circle cx="${px(i).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${COLORS[name] ?? '#555'}"/>`).join('')
      const legend = `<text x="${x0 + pad + 10}" y="${pad + 16 * (k + 1)}" fill="${COLORS[name] ?? '#555'}" font-size="12">${name}</text>`
      return `<polyline fill="none" stroke="${COLORS[name] ?? '#555'}" stroke-width="2" points="${pts}"/>${dots}${legend}`
    })
    .join('')
  const ticks = [lo, (lo + hi) / 2, hi].map((v) => `<text x="${x0 + 4}" y="${py(v) + 4}" font-size="10" fill="#444">${v.toFixed(3)}</text>`).join('')
  const xticks = Array.from({ length: epochs }, (_, i) => `<text x="${px(i) - 3}" y="${height - pad + 15}" font-size="10" fill="#444">${i + 1}</text>`).join('')
  return (
    `<rect x="${x0 + pad}" y="${pad}" width="${width - 2 * pad}" height="${height - 2 * pad}" fill="none" stroke="#ccc"/>` +
    `<text x="${x0 + width / 2 - 30}" y="20" font-size="14">${title}</text>${ticks}${xticks}` +
    `<text x="${x0 + width / 2 - 15}" y="${height - 5}" font-size="11" fill="#444">epoch</text>${lines}`
  )
}

/** Loss and accuracy per epoch (training and validation) as a standalone SVG chart, as `train imdb --plot` writes it. */
export function historySvg(history: History): string {
  const h = history.history
  const pick = (names: string[]) => names.filter((n) => h[n]?.length).map((n) => [n, h[n]] as [string, number[]])
  const [w, height] = [420, 300]
  const body = panel('loss', pick(['loss', 'val_loss']), 0, w, height) + panel('accuracy', pick(['accuracy', 'val_accuracy']), w, w, height)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>\n`
}

/** One line of {@link forecastSvg}. */
export interface PlotSeries {
  /** The legend's label. */
  name: string
  /** One value per point (NaN leaves a gap). */
  values: ArrayLike<number>
}

/** Options of {@link forecastSvg}. */
export interface ForecastPlotOptions {
  /** The lines, all of the same length: the first is drawn as the actual values. */
  series: PlotSeries[]
  /** The time of each point in milliseconds since 1970 (UTC); without them the x-axis counts steps. */
  times?: ArrayLike<number>
  /** Shown above the chart. */
  title?: string
  /** The y-axis label. */
  unit?: string
}

const LINE_COLORS = ['#222222', '#d62728', '#1f77b4', '#2ca02c']

/** Tick values at a round step covering [lo, hi], about `count` of them. */
function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/** Date ticks at whole years (or months, over a short span), labelled as such. */
function timeTicks(t0: number, t1: number): { t: number; label: string }[] {
  const d0 = new Date(t0)
  const d1 = new Date(t1)
  const years = d1.getUTCFullYear() - d0.getUTCFullYear()
  if (years >= 3) {
    const step = niceTicks(d0.getUTCFullYear(), d1.getUTCFullYear(), 6).reduce((s, v, i, a) => (i ? v - a[i - 1] : s), 1)
    const out: { t: number; label: string }[] = []
    for (let y = Math.ceil(d0.getUTCFullYear() / step) * step; y <= d1.getUTCFullYear(); y += step) {
      const t = Date.UTC(y, 0, 1)
      if (t >= t0 && t <= t1) out.push({ t, label: String(y) })
    }
    return out
  }
  const months = years * 12 + d1.getUTCMonth() - d0.getUTCMonth()
  const step = Math.max(1, Math.ceil(months / 6))
  const out: { t: number; label: string }[] = []
  for (let k = 1; k <= months; k += step) {
    const t = Date.UTC(d0.getUTCFullYear(), d0.getUTCMonth() + k, 1)
    const d = new Date(t)
    if (t <= t1) out.push({ t, label: `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}` })
  }
  return out
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** Lines over time as a standalone SVG chart (axes, dates, legend), as `train series --plot` writes the test span. */
export function forecastSvg(options: ForecastPlotOptions): string {
  const { series, times, title = '', unit = '' } = options
  const n = Math.max(0, ...series.map((s) => s.values.length))
  const xs = Array.from({ length: n }, (_, i) => (times ? Number(times[i]) : i))
  const values = series.flatMap((s) => Array.from(s.values)).filter(Number.isFinite)
  const [W, H] = [900, 420]
  const [left, right, top, bottom] = [70, 20, 40, 50]
  let lo = values.length ? Math.min(...values) : 0
  let hi = values.length ? Math.max(...values) : 1
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5]
  const pad = (hi - lo) * 0.05
  ;[lo, hi] = [lo - pad, hi + pad]
  const x0 = xs[0] ?? 0
  const x1 = n > 1 ? xs[n - 1] : x0 + 1
  const px = (x: number) => left + ((x - x0) * (W - left - right)) / (x1 - x0 || 1)
  const py = (v: number) => H - bottom - ((v - lo) * (H - top - bottom)) / (hi - lo)
  const f = (v: number) => v.toFixed(1)
  const parts: string[] = [`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#999"/>`]
  for (const v of niceTicks(lo, hi, 6)) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${f(py(v))}" y2="${f(py(v))}" stroke="#eee"/><text x="${left - 6}" y="${f(py(v) + 4)}" font-size="11" text-anchor="end" fill="#444">${v}</text>`)
  }
  const xTicks = times && n > 1 ? timeTicks(x0, x1) : niceTicks(x0, x1, 8).map((t) => ({ t, label: String(t) }))
  for (const { t, label } of xTicks) {
    parts.push(`<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${H - bottom}" y2="${H - bottom + 5}" stroke="#999"/><text x="${f(px(t))}" y="${H - bottom + 18}" font-size="11" text-anchor="middle" fill="#444">${label}</text>`)
  }
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 10}" font-size="12" text-anchor="middle" fill="#444">${times ? 'date' : 'step'}</text>`)
  parts.push(`<text transform="translate(16 ${(top + H - bottom) / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#444">${escapeXml(unit)}</text>`)
  parts.push(`<text x="${left}" y="24" font-size="14">${escapeXml(title)}</text>`)
  series.forEach((s, k) => {
    const color = LINE_COLORS[k % LINE_COLORS.length]
    // A NaN ends a segment, so a gap in the data shows as a gap in the line.
    const segments: string[][] = [[]]
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i]
      if (Number.isFinite(v)) segments[segments.length - 1].push(`${f(px(xs[i]))},${f(py(v))}`)
      else if (segments[segments.length - 1].length) segments.push([])
    }
    for (const seg of segments) if (seg.length) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5"${k === 0 ? '' : ' stroke-dasharray="5 3"'} points="${seg.join(' ')}"/>`)
    const ly = top + 16 + 18 * k
    parts.push(`<line x1="${left + 12}" x2="${left + 40}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${k === 0 ? '' : ' stroke-dasharray="5 3"'}/><text x="${left + 46}" y="${ly}" font-size="12" fill="${color}">${escapeXml(s.name)}</text>`)
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`
}
