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
