/**
 * Time series: reading numeric columns from CSV, filling gaps, cutting windows (Keras's
 * `timeseries_dataset_from_array`) and splitting chronologically.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'csv-parse/sync'
import { LstmError } from './errors.js'
import { checkedTensor, isTensor, type Tensor, tensor } from './tensor.js'
import { checkInt, checkPath, describe, optionsOf } from './validate.js'

/** Options of {@link readCsv}. */
export interface ReadCsvOptions {
  /** The numeric columns to read, by header name. Default: every column but the date column. */
  columns?: string[]
  /**
   * The time column, by header name: YYYYMMDD numbers, ISO dates (`2001-12-29`, `2001-12`) or plain years. Default:
   * the first column, unless `columns` names it. `false`: the file has no time column.
   */
  dateColumn?: string | false
}

/** A CSV file's numeric columns, one `Float32Array` per column, missing values as NaN. */
export interface CsvTable {
  /** Each column read, by header name; a blank, `NA`, `NaN` or `null` cell is NaN. */
  columns: Record<string, Float32Array>
  /** The time column's name, when there is one. */
  dateColumn?: string
  /** The time column's cells, as written. */
  dates?: string[]
  /** The time of each row in milliseconds since 1970 (UTC), read from `dates`. */
  times?: Float64Array
  /** Number of data rows. */
  rows: number
}

const MISSING = new Set(['', 'na', 'nan', 'null', 'n/a', '?', '.'])

/**
 * A time cell as milliseconds since 1970 (UTC): `19580329` (YYYYMMDD), `1958-03-29` or `1958-03` (ISO), `1958`
 * (a year); NaN when it is none of these.
 */
export function parseTime(cell: string): number {
  const s = cell.trim()
  let m = /^(\d{4})(\d{2})(\d{2})$/.exec(s)
  if (m) return validDate(+m[1], +m[2], +m[3])
  if (/^-?\d{1,4}(\.0*)?$/.test(s)) return utc(Math.trunc(Number(s)), 0, 1)
  m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(s)
  if (m) return validDate(+m[1], +m[2], m[3] === undefined ? 1 : +m[3])
  if (/^\d{4}-\d{2}-\d{2}[T ]/.test(s)) return Date.parse(s.includes('Z') || /[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s.replace(' ', 'T')}Z`)
  return Number.NaN
}

/** `Date.UTC` without its mapping of years 0 to 99 to 1900 to 1999. */
export function utc(y: number, month0: number, d: number): number {
  const t = new Date(Date.UTC(2000, month0, d))
  t.setUTCFullYear(y + Math.floor(month0 / 12), ((month0 % 12) + 12) % 12, d)
  return t.getTime()
}

function validDate(y: number, mo: number, d: number): number {
  const t = utc(y, mo - 1, d)
  const back = new Date(t)
  return back.getUTCMonth() === mo - 1 && back.getUTCDate() === d ? t : Number.NaN
}

/**
 * Reads numeric columns of a CSV file (with a header row; quoted fields and headers allowed) on csv-parse. Missing
 * values become NaN, for {@link fillMissing} to fill; a cell that is neither a number nor missing is an
 * `INVALID_ARGUMENT` naming its line and column, as is a time cell that is not a date.
 */
export function readCsv(path: string, options?: ReadCsvOptions | null): CsvTable {
  checkPath('readCsv(): path', path)
  const o = optionsOf('readCsv()', options)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new LstmError('IO', `readCsv(): cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  let records: { record: string[]; info: { lines: number } }[]
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true, info: true, relax_column_count: false }) as unknown as typeof records
  } catch (err) {
    throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} is not valid CSV: ${(err as Error).message}`, { cause: err })
  }
  if (records.length < 2) throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} has ${records.length ? 'a header but no data rows' : 'no header row'}`)
  const header = records[0].record
  const find = (name: unknown, what: string): number => {
    if (typeof name !== 'string') throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${what} must be a column name (a string), got ${describe(name)}`)
    const i = header.indexOf(name)
    if (i < 0) throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} has no column ${JSON.stringify(name)}; its columns are ${header.map((h) => JSON.stringify(h)).join(', ')}`)
    return i
  }
  // The first column is the time column by default, unless it is one of the columns asked for as values.
  const firstIsValue = o.dateColumn === undefined && Array.isArray(o.columns) && o.columns.includes(header[0])
  const dateIndex = o.dateColumn === false || firstIsValue ? -1 : o.dateColumn === undefined ? 0 : find(o.dateColumn, 'dateColumn')
  if (o.columns !== undefined && (!Array.isArray(o.columns) || o.columns.length === 0)) {
    throw new LstmError('INVALID_ARGUMENT', `readCsv(): columns must be a non-empty array of column names, got ${describe(o.columns)}`)
  }
  const wanted = o.columns === undefined ? header.map((_, i) => i).filter((i) => i !== dateIndex) : o.columns.map((c) => find(c, 'a column'))
  if (wanted.length === 0) throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} has no column besides the date column ${JSON.stringify(header[dateIndex])}`)
  const body = records.slice(1)
  const columns: Record<string, Float32Array> = {}
  for (const c of wanted) columns[header[c]] = new Float32Array(body.length)
  const dates: string[] = []
  const times = new Float64Array(body.length)
  body.forEach(({ record, info }, r) => {
    for (const c of wanted) {
      const cell = record[c]
      const v = MISSING.has(cell.toLowerCase()) ? Number.NaN : Number(cell)
      if (Number.isNaN(v) && !MISSING.has(cell.toLowerCase())) {
        throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} line ${info.lines}, column ${JSON.stringify(header[c])}: ${describe(cell)} is not a number`)
      }
      columns[header[c]][r] = v
    }
    if (dateIndex >= 0) {
      const cell = record[dateIndex]
      const t = parseTime(cell)
      if (Number.isNaN(t)) {
        throw new LstmError('INVALID_ARGUMENT', `readCsv(): ${path} line ${info.lines}, date column ${JSON.stringify(header[dateIndex])}: ${describe(cell)} is not a date (YYYYMMDD, an ISO date or a year)`)
      }
      dates.push(cell)
      times[r] = t
    }
  })
  return dateIndex >= 0 ? { columns, dateColumn: header[dateIndex], dates, times, rows: body.length } : { columns, rows: body.length }
}

/** How {@link fillMissing} treats a NaN: interpolate between its neighbours, repeat the last value, or drop the row. */
export type FillMethod = 'linear' | 'previous' | 'drop'

const FILL_METHODS: readonly FillMethod[] = ['linear', 'previous', 'drop']

function fillColumn(v: Float32Array, method: 'linear' | 'previous', what: string): Float32Array {
  const out = Float32Array.from(v)
  const first = out.findIndex((x) => !Number.isNaN(x))
  if (first < 0) throw new LstmError('NON_FINITE', `fillMissing(): ${what} has no value at all (${v.length} rows, all NaN)`)
  // Before the first value there is nothing to interpolate from or repeat: those rows take the first value (pandas'
  // interpolate().bfill(), which the Keras peer uses).
  out.fill(out[first], 0, first)
  let prev = first
  for (let i = first + 1; i < out.length; i++) {
    if (Number.isNaN(out[i])) continue
    if (i > prev + 1) {
      for (let k = prev + 1; k < i; k++) out[k] = method === 'previous' ? out[prev] : out[prev] + ((out[i] - out[prev]) * (k - prev)) / (i - prev)
    }
    prev = i
  }
  out.fill(out[prev], prev + 1)
  return out
}

function checkMethod(method: unknown): FillMethod {
  if (!FILL_METHODS.includes(method as FillMethod)) throw new LstmError('INVALID_ARGUMENT', `fillMissing(): method must be 'linear', 'previous' or 'drop', got ${describe(method)}`)
  return method as FillMethod
}

/**
 * Fills the NaNs of a series, explicitly: `'linear'` interpolates between the values either side, `'previous'`
 * repeats the last value, and both give the rows before the first value the first value; `'drop'` removes the rows.
 * Given a {@link CsvTable}, fills every column, and `'drop'` removes a row (its date too) where any column is NaN.
 * Returns new arrays; an Infinity is not a missing value and stays, for `fit` to refuse.
 */
export function fillMissing(series: Float32Array, method: FillMethod): Float32Array
export function fillMissing(table: CsvTable, method: FillMethod): CsvTable
export function fillMissing(data: Float32Array | CsvTable, method: FillMethod): Float32Array | CsvTable {
  checkMethod(method)
  if (data instanceof Float32Array) {
    return method === 'drop' ? data.filter((x) => !Number.isNaN(x)) : fillColumn(data, method, 'the series')
  }
  if (typeof data !== 'object' || data === null || typeof data.columns !== 'object' || data.columns === null) {
    throw new LstmError('INVALID_ARGUMENT', `fillMissing() takes a Float32Array or a table from readCsv(), got ${describe(data)}`)
  }
  const names = Object.keys(data.columns)
  for (const name of names) {
    if (!(data.columns[name] instanceof Float32Array) || data.columns[name].length !== data.rows) {
      throw new LstmError('INVALID_ARGUMENT', `fillMissing(): column ${JSON.stringify(name)} must be a Float32Array of ${data.rows} rows, got ${describe(data.columns[name])}`)
    }
  }
  if (method !== 'drop') {
    return { ...data, columns: Object.fromEntries(names.map((n) => [n, fillColumn(data.columns[n], method, `column ${JSON.stringify(n)}`)])) }
  }
  const keep: number[] = []
  for (let r = 0; r < data.rows; r++) if (names.every((n) => !Number.isNaN(data.columns[n][r]))) keep.push(r)
  const out: CsvTable = { ...data, rows: keep.length, columns: Object.fromEntries(names.map((n) => [n, Float32Array.from(keep, (r) => data.columns[n][r])])) }
  if (data.dates) out.dates = keep.map((r) => (data.dates as string[])[r])
  if (data.times) out.times = Float64Array.from(keep, (r) => (data.times as Float64Array)[r])
  return out
}

/** Options of {@link windows}: Keras's `timeseries_dataset_from_array`, plus `horizon`. */
export interface WindowsOptions {
  /** Steps in each window (Keras's `sequence_length`). */
  sequenceLength: number
  /**
   * `targets[i]` is the target of the window that starts at row i (Keras's `targets`): a `Float32Array` (y is then
   * `[N]`) or a Tensor `[n, k]` (y is `[N, k]`). Give this or `horizon`, not both.
   */
  targets?: Float32Array | Tensor
  /** Instead of `targets`: y holds the `horizon` values of column `targetColumn` that follow each window, `[N, horizon]`. */
  horizon?: number
  /** The column of `data` that `horizon` takes its targets from. Default 0. */
  targetColumn?: number
  /** Take every `samplingRate`-th row inside a window. Default 1. */
  samplingRate?: number
  /** Rows between the starts of consecutive windows (Keras's `sequence_stride`). Default 1. */
  stride?: number
  /** First row used (Keras's `start_index`). Default 0. */
  start?: number
  /** Rows from `end` on are not used (Keras's `end_index`, exclusive). Default: every row. */
  end?: number
}

/** What {@link windows} returns: the windows in order, their targets, and the row each window starts at. */
export interface Windows {
  /** `[N, sequenceLength, F]` float32. */
  x: Tensor
  /** The targets, when `targets` or `horizon` was given. */
  y?: Tensor
  /** The row of `data` where each window starts. */
  starts: Int32Array
}

/** `[n, F]` view of a series: a Float32Array is one feature. */
function asMatrix(data: Float32Array | Tensor, what: string): { values: Float32Array; n: number; f: number } {
  if (data instanceof Float32Array) return { values: data, n: data.length, f: 1 }
  if (!isTensor(data)) throw new LstmError('INVALID_ARGUMENT', `${what} must be a Float32Array or a Tensor [rows] or [rows, features], got ${describe(data)}`)
  const t = checkedTensor(data, what)
  if (!(t.data instanceof Float32Array)) throw new LstmError('INVALID_ARGUMENT', `${what} must be float32, got an ${t.dtype} tensor`)
  if (t.shape.length !== 1 && t.shape.length !== 2) throw new LstmError('SHAPE_MISMATCH', `${what} must be [rows] or [rows, features], got shape [${t.shape.join(', ')}]`)
  return { values: t.data, n: t.shape[0], f: t.shape.length === 2 ? t.shape[1] : 1 }
}

/**
 * Cuts a series into overlapping windows with Keras's `timeseries_dataset_from_array` semantics (the windows in
 * order, unbatched): window i holds rows `start + i·stride + j·samplingRate`, j < sequenceLength, all before `end`,
 * and its target is `targets[start + i·stride]`. With `horizon: k` the targets are instead the k rows of column
 * `targetColumn` after each window's last row (direct multi-step forecasting), and only windows whose targets lie
 * before `end` are cut. `x` is written once, straight from `data`.
 */
export function windows(data: Float32Array | Tensor, options: WindowsOptions): Windows {
  const { values, n, f } = asMatrix(data, 'windows(): data')
  const o = optionsOf('windows()', options)
  const T = checkInt('windows(): sequenceLength', o.sequenceLength, 1)
  const rate = checkInt('windows(): samplingRate', o.samplingRate ?? 1, 1)
  const stride = checkInt('windows(): stride', o.stride ?? 1, 1)
  const start = checkInt('windows(): start', o.start ?? 0, 0, Math.max(n - 1, 0))
  const end = checkInt(`windows(): end (with start ${start})`, o.end ?? n, start + 1, n)
  if (o.targets !== undefined && o.horizon !== undefined) throw new LstmError('INVALID_ARGUMENT', 'windows(): give targets or horizon, not both')
  const horizon = o.horizon === undefined ? 0 : checkInt('windows(): horizon', o.horizon, 1)
  const targetColumn = checkInt(`windows(): targetColumn (of ${f} columns)`, o.targetColumn ?? 0, 0, f - 1)
  const targets = o.targets === undefined ? undefined : asMatrix(o.targets, 'windows(): targets')
  const span = (T - 1) * rate
  // As Keras: window starts run over [0, count) from `start`; count is cut by the targets when there are any.
  let count = end - start - span - horizon
  if (targets) count = Math.min(count, targets.n - start)
  if (count <= 0) {
    throw new LstmError('INVALID_ARGUMENT', `windows(): no window fits: rows ${start} to ${end} (${end - start}) are fewer than sequenceLength ${T} × samplingRate ${rate}${horizon ? ` + horizon ${horizon}` : ''}${targets ? ` or than the ${targets.n} targets allow` : ''}`)
  }
  const N = Math.ceil(count / stride)
  const x = new Float32Array(N * T * f)
  const starts = new Int32Array(N)
  const k = targets ? targets.f : horizon
  const y = targets || horizon ? new Float32Array(N * k) : undefined
  for (let i = 0; i < N; i++) {
    const s = start + i * stride
    starts[i] = s
    for (let j = 0; j < T; j++) x.set(values.subarray((s + j * rate) * f, (s + j * rate + 1) * f), (i * T + j) * f)
    if (targets && y) y.set(targets.values.subarray(s * k, (s + 1) * k), i * k)
    else if (y) for (let h = 0; h < k; h++) y[i * k + h] = values[(s + span + 1 + h) * f + targetColumn]
  }
  const yShape = targets && o.targets instanceof Float32Array ? [N] : targets && (o.targets as Tensor).shape.length === 1 ? [N] : [N, k]
  return { x: tensor(x, [N, T, f]), ...(y ? { y: tensor(y, yShape) } : {}), starts }
}

/** A half-open row range `[start, end)`. */
export interface Span {
  /** First row. */
  start: number
  /** One past the last row. */
  end: number
}

/** Options of {@link split}: the fractions of the rows for training and validation; the test span takes the rest. */
export interface SplitOptions {
  /** Default 0.7. */
  train?: number
  /** Default 0.15. */
  validation?: number
}

/** The three spans of {@link split}, in time order. */
export interface Split {
  /** The first rows. */
  train: Span
  /** The rows after them. */
  validation: Span
  /** The last rows. */
  test: Span
}

/**
 * Splits n rows chronologically, never shuffled: training `[0, ⌊n·train⌋)`, validation up to
 * `⌊n·(train + validation)⌋`, test the rest (as the Keras peer's `int(n*.7)`, `int(n*.85)`).
 */
export function split(n: number, options?: SplitOptions | null): Split {
  checkInt('split(): n', n, 3)
  const { train = 0.7, validation = 0.15 } = optionsOf('split()', options)
  for (const [k, v] of [['train', train], ['validation', validation]] as const) {
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new LstmError('INVALID_ARGUMENT', `split(): ${k} must be a fraction in [0, 1), got ${describe(v)}`)
  }
  if (!(train + validation < 1)) throw new LstmError('INVALID_ARGUMENT', `split(): train ${train} + validation ${validation} leave no test rows`)
  const a = Math.floor(n * train)
  const b = Math.floor(n * (train + validation))
  if (a === 0 || b === n) throw new LstmError('INVALID_ARGUMENT', `split(): ${n} rows are too few for train ${train} and validation ${validation}: a span would be empty`)
  return { train: { start: 0, end: a }, validation: { start: a, end: b }, test: { start: b, end: n } }
}
