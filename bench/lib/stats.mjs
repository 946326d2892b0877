// Small statistics over repeated measurements.
export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return null
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

export function ratio(a, b) {
  return a == null || b == null || b === 0 ? null : a / b
}

/** Numbers to a fixed number of significant digits for display ("1,234", "12.3", "0.123"). */
export function fmt(x, digits = 3) {
  if (x == null || !Number.isFinite(x)) return '—'
  const abs = Math.abs(x)
  if (abs >= 10 ** digits) return Math.round(x).toLocaleString('en-US')
  const decimals = abs === 0 ? 0 : Math.max(0, digits - 1 - Math.floor(Math.log10(abs)))
  return x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}
