/**
 * Forecasting a numeric series from a CSV file: windows of `window` steps in, the next `horizon` values out, an
 * LSTM(32) (or GRU) and a Dense layer, Adam on the mean squared error, trained on the first 70% of the rows, validated
 * on the next 15% and tested on the last 15% against the naive baselines. The model file carries the scalers and the
 * target transform, so `forecast` and `predict --csv` take and return raw units.
 */
import { availableParallelism } from 'node:os'
import { writeFileSync } from 'node:fs'
import type { History } from '../callbacks.js'
import { LstmError } from '../errors.js'
import * as layers from '../layers.js'
import { Sequential } from '../model.js'
import { checkOutputPath } from '../paths.js'
import { forecastSvg } from '../plot.js'
import { minMaxScaler, type ScalerState, scalerFromJson, standardScaler } from '../preprocessing.js'
import { tensor, type Tensor } from '../tensor.js'
import { type CsvTable, type FillMethod, fillMissing, readCsv, split, utc, windows } from '../timeseries.js'
import { checkInt, describe } from '../validate.js'

/**
 * What the model predicts: `'difference'`, the change of each target from the window's last value (the default:
 * a trending series leaves the training span's range, and a change does not), or `'none'`, the levels themselves.
 */
export type TargetTransform = 'difference' | 'none'

/** The recurrent layer of the forecasting model. */
export type SeriesCell = 'lstm' | 'gru'

/** Options of {@link trainSeries}. */
export interface TrainSeriesOptions {
  /** The CSV file (with a header row). */
  csv: string
  /** The column to forecast. */
  target: string
  /** The time column. Default: the first column. */
  dateColumn?: string
  /** Other columns fed to the model beside the target's past values. Default none. */
  features?: string[]
  /** Steps in each input window. Default 52. */
  window?: number
  /** Values predicted at once, after each window (direct multi-step forecasting). Default 1. */
  horizon?: number
  /** How missing values are filled; without it a missing value is a `NON_FINITE` error naming its line. */
  fill?: FillMethod
  /** Default `'difference'`. */
  transform?: TargetTransform
  /** How inputs and targets are scaled, fitted on the training span. Default `'standard'`. */
  scaler?: 'standard' | 'minMax'
  /** Default 20. */
  epochs?: number
  /** Default 32. */
  batchSize?: number
  /** Units of the recurrent layer. Default 32. */
  units?: number
  /** Default `'lstm'`. */
  cell?: SeriesCell
  /** Adam's learning rate. Default 0.001. */
  learningRate?: number
  /** Seeds the weights and the order of each epoch. Default 0. */
  seed?: number
  /** Steps in one season: adds the baseline "the value one season ago". */
  season?: number
  /** The target's unit, for the report lines and the plot. Default: "<target> units". */
  unit?: string
  /** Default: one per core. */
  numThreads?: number
  /** 0 silent, 1 progress bar. Default 1. */
  verbose?: 0 | 1
  /** Write the trained model (with its scalers and transform) here. */
  save?: string
  /** Write an SVG of the test span, actual against predicted, here (a `.svg` file). */
  plot?: string
  /** Where the report lines go. Default console.log. */
  log?: (line: string) => void
}

/** MAE and RMSE in the target's units. */
export interface ErrorFigures {
  /** Mean absolute error. */
  mae: number
  /** Root mean squared error. */
  rmse: number
}

/** What {@link trainSeries} resolves to. */
export interface TrainSeriesResult {
  /** The trained model, with its {@link SeriesModelMetadata}. */
  model: Sequential
  /** Loss per epoch, training and validation. */
  history: History
  /** The model's errors over the test span, every horizon step. */
  test: ErrorFigures
  /** The last value repeated. */
  baselineLast: ErrorFigures
  /** The value one season ago, with `season`. */
  baselineSeason?: ErrorFigures
  /** The test span, one entry per window, for plotting. */
  testRows: {
    /** The row of each window's first target. */
    rows: Int32Array
    /** The actual values at those rows. */
    actual: Float32Array
    /** The model's first-step predictions for them. */
    predicted: Float32Array
  }
  /** Seconds spent in `fit`. */
  trainSeconds: number
  /** Seconds of the whole run. */
  seconds: number
  /** Windows in each span. */
  sizes: {
    /** Training windows. */
    train: number
    /** Validation windows. */
    validation: number
    /** Test windows. */
    test: number
  }
}

/** What a forecasting model saves in its metadata, so that {@link forecast} needs nothing else. */
export interface SeriesModelMetadata {
  /** Marks a forecasting model. */
  task: 'series'
  /** The forecast column. */
  target: string
  /** Other input columns, after the target. */
  features: string[]
  /** The time column of the training file. */
  dateColumn?: string
  /** Steps in each input window. */
  window: number
  /** Values predicted at once. */
  horizon: number
  /** How the target is transformed. */
  transform: TargetTransform
  /** How missing values of the training file were filled. */
  fill?: FillMethod
  /** Scales the input columns (target first, transformed). */
  inputScaler: ScalerState
  /** Scales the `horizon` targets. */
  targetScaler: ScalerState
  /** The target's unit. */
  unit?: string
}

/**
 * The input matrix `[n, F]`, row-major: the target (as changes from the previous row with `'difference'`, the first
 * row's change 0, as numpy's `diff(y, prepend=y[0])`), then the other features as they are.
 */
function inputMatrix(columns: Float32Array[], transform: TargetTransform): Float32Array {
  const n = columns[0].length
  const F = columns.length
  const out = new Float32Array(n * F)
  for (let i = 0; i < n; i++) {
    const y = columns[0]
    out[i * F] = transform === 'difference' ? (i === 0 ? 0 : y[i] - y[i - 1]) : y[i]
    for (let c = 1; c < F; c++) out[i * F + c] = columns[c][i]
  }
  return out
}

function checkNoMissing(table: CsvTable, path: string): void {
  for (const [name, v] of Object.entries(table.columns)) {
    const r = v.findIndex((x) => !Number.isFinite(x))
    if (r >= 0) {
      throw new LstmError('NON_FINITE', `${path}: column ${JSON.stringify(name)} has ${Number.isNaN(v[r]) ? 'no value' : `the value ${v[r]}`} in data row ${r + 1}${table.dates ? ` (${table.dates[r]})` : ''}; fill missing values with --fill linear|previous|drop (timeseries.fillMissing)`)
    }
  }
}

function errors(pred: ArrayLike<number>, actual: ArrayLike<number>): ErrorFigures {
  let a = 0
  let s = 0
  for (let i = 0; i < pred.length; i++) {
    a += Math.abs(pred[i] - actual[i])
    s += (pred[i] - actual[i]) ** 2
  }
  return { mae: a / pred.length, rmse: Math.sqrt(s / pred.length) }
}

const round = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(2) : v.toPrecision(4).replace(/\.?0+$/, ''))

/** The forecasting model: a recurrent layer over `[window, features]` floats, then Dense(horizon). */
export function seriesModel(options: { window: number; features: number; horizon?: number; units?: number; cell?: SeriesCell; seed?: number; numThreads?: number }): Sequential {
  const { window, features, horizon = 1, units = 32, cell = 'lstm', seed = 0, numThreads = availableParallelism() } = options
  if (cell !== 'lstm' && cell !== 'gru') throw new LstmError('INVALID_CONFIG', `cell must be 'lstm' or 'gru', got ${describe(cell)}`)
  const inputShape: [number, number] = [window, features]
  const recurrent = cell === 'gru' ? layers.gru({ units, inputShape }) : layers.lstm({ units, inputShape })
  return new Sequential([recurrent, layers.dense({ units: horizon })], { seed, numThreads, name: 'series_forecast' })
}

/**
 * Trains a forecasting model on a CSV column and reports its test MAE and RMSE beside the baselines. Its last two
 * lines are `test MAE: X, RMSE: Y (unit)` and `baseline last value: MAE X, RMSE Y`.
 */
export async function trainSeries(options: TrainSeriesOptions): Promise<TrainSeriesResult> {
  const begin = performance.now()
  const o = options
  const log = o.log ?? console.log
  if (typeof o?.csv !== 'string' || typeof o.target !== 'string') throw new LstmError('INVALID_ARGUMENT', 'trainSeries() needs csv (a file path) and target (a column name)')
  const window = checkInt('window', o.window ?? 52, 1)
  const horizon = checkInt('horizon', o.horizon ?? 1, 1)
  const transform = o.transform ?? 'difference'
  if (transform !== 'difference' && transform !== 'none') throw new LstmError('INVALID_ARGUMENT', `transform must be 'difference' or 'none', got ${describe(transform)}`)
  const scalerKind = o.scaler ?? 'standard'
  if (scalerKind !== 'standard' && scalerKind !== 'minMax') throw new LstmError('INVALID_ARGUMENT', `scaler must be 'standard' or 'minMax', got ${describe(scalerKind)}`)
  const season = o.season === undefined ? undefined : checkInt('season', o.season, horizon)
  const { epochs = 20, batchSize = 32, verbose = 1 } = o
  if (o.save !== undefined) checkOutputPath(o.save, 'save')
  if (o.plot !== undefined) checkOutputPath(o.plot, 'plot', '.svg')

  const features = (o.features ?? []).filter((f) => f !== o.target)
  const names = [o.target, ...features]
  let table = readCsv(o.csv, { columns: names, dateColumn: o.dateColumn })
  if (o.fill !== undefined) table = fillMissing(table, o.fill)
  checkNoMissing(table, o.csv)
  const n = table.rows
  const { train, validation } = split(n)
  const y = table.columns[o.target]
  // Sample s reads rows [s, s + window) and predicts rows [s + window, s + window + horizon); it belongs to the span
  // holding all its targets, so no training target lies in the validation or test span.
  const count = n - window - horizon + 1
  const trainCount = train.end - window - horizon + 1
  const valStart = validation.start - window
  const valEnd = validation.end - window - horizon + 1
  const testStart = validation.end - window
  if (trainCount < 1 || valEnd <= valStart || count <= testStart) {
    throw new LstmError('INVALID_ARGUMENT', `${o.csv} has ${n} rows: too few for windows of ${window} + horizon ${horizon} in each of the training (70%), validation (15%) and test (15%) spans; use a shorter --window`)
  }

  const F = names.length
  const makeScaler = () => (scalerKind === 'minMax' ? minMaxScaler() : standardScaler())
  const matrix = tensor(inputMatrix(names.map((c) => table.columns[c]), transform), [n, F])
  const inputScaler = makeScaler().fit(matrix, { end: train.end })
  const targets = new Float32Array(count * horizon)
  for (let s = 0; s < count; s++) {
    const last = s + window - 1
    for (let j = 0; j < horizon; j++) targets[s * horizon + j] = y[last + 1 + j] - (transform === 'difference' ? y[last] : 0)
  }
  const targetTensor = tensor(targets, [count, horizon])
  const targetScaler = makeScaler().fit(targetTensor, { end: trainCount })
  const { x, y: yAll } = windows(inputScaler.transform(matrix), { sequenceLength: window, targets: targetScaler.transform(targetTensor) })
  const part = (t: Tensor, from: number, to: number): Tensor => {
    const row = t.shape.slice(1).reduce((a, b) => a * b, 1)
    return tensor(t.data.subarray(from * row, to * row), [to - from, ...t.shape.slice(1)])
  }
  const yt = yAll as Tensor

  const model = seriesModel({ window, features: F, horizon, units: o.units, cell: o.cell, seed: o.seed, numThreads: o.numThreads })
  model.compile({ loss: 'mse', optimizer: { type: 'adam', learningRate: o.learningRate } })
  if (verbose) log(`${o.csv}: ${n} rows; windows of ${window} → ${horizon}: ${trainCount} training, ${valEnd - valStart} validation, ${count - testStart} test`)
  const fitStart = performance.now()
  const history = await model.fit(part(x, 0, trainCount), part(yt, 0, trainCount), {
    epochs,
    batchSize,
    verbose,
    validationData: [part(x, valStart, valEnd), part(yt, valStart, valEnd)],
  })
  const trainSeconds = (performance.now() - fitStart) / 1000

  const testN = count - testStart
  const raw = targetScaler.inverseTransform(await model.predict(part(x, testStart, count), { batchSize: 256 })).data
  const pred = new Float32Array(testN * horizon)
  const actual = new Float32Array(testN * horizon)
  const last = new Float32Array(testN * horizon)
  const seasonal = new Float32Array(testN * horizon)
  for (let i = 0; i < testN; i++) {
    const lastRow = testStart + i + window - 1
    for (let j = 0; j < horizon; j++) {
      const k = i * horizon + j
      pred[k] = raw[k] + (transform === 'difference' ? y[lastRow] : 0)
      actual[k] = y[lastRow + 1 + j]
      last[k] = y[lastRow]
      if (season !== undefined) seasonal[k] = y[lastRow + 1 + j - season]
    }
  }
  const test = errors(pred, actual)
  const baselineLast = errors(last, actual)
  const baselineSeason = season === undefined ? undefined : errors(seasonal, actual)
  const unit = o.unit ?? `${o.target} units`
  if (baselineSeason) log(`baseline one season (${season} steps) ago: MAE ${round(baselineSeason.mae)}, RMSE ${round(baselineSeason.rmse)}`)
  log(`test MAE: ${round(test.mae)}, RMSE: ${round(test.rmse)} (${unit})`)
  log(`baseline last value: MAE ${round(baselineLast.mae)}, RMSE ${round(baselineLast.rmse)}`)

  const metadata: SeriesModelMetadata = {
    task: 'series',
    target: o.target,
    features,
    ...(table.dateColumn === undefined ? {} : { dateColumn: table.dateColumn }),
    window,
    horizon,
    transform,
    ...(o.fill === undefined ? {} : { fill: o.fill }),
    inputScaler: inputScaler.toJSON(),
    targetScaler: targetScaler.toJSON(),
    unit,
  }
  model.metadata = { ...metadata }
  if (o.save) await model.save(o.save)
  const rows = Int32Array.from({ length: testN }, (_, i) => testStart + i + window)
  const first = Float32Array.from({ length: testN }, (_, i) => pred[i * horizon])
  const firstActual = Float32Array.from({ length: testN }, (_, i) => actual[i * horizon])
  if (o.plot) {
    const svg = forecastSvg({
      times: table.times ? Array.from(rows, (r) => (table.times as Float64Array)[r]) : undefined,
      series: [
        { name: 'actual', values: firstActual },
        { name: `predicted (${horizon === 1 ? 'one step ahead' : `first of ${horizon} steps`})`, values: first },
      ],
      title: `${o.target}: test span, MAE ${round(test.mae)} (last value ${round(baselineLast.mae)})`,
      unit,
    })
    try {
      writeFileSync(o.plot, svg)
    } catch (err) {
      throw new LstmError('IO', `plot: cannot write ${o.plot}: ${(err as Error).message}`, { cause: err })
    }
  }
  return {
    model,
    history,
    test,
    baselineLast,
    ...(baselineSeason ? { baselineSeason } : {}),
    testRows: { rows, actual: firstActual, predicted: first },
    trainSeconds,
    seconds: (performance.now() - begin) / 1000,
    sizes: { train: trainCount, validation: valEnd - valStart, test: testN },
  }
}

/** The model's forecasting metadata, checked: a model without it (or with a damaged one) is `INVALID_ARGUMENT`. */
export function seriesMetadata(model: Sequential): SeriesModelMetadata {
  const m = model.metadata as Partial<SeriesModelMetadata>
  const ok =
    m.task === 'series' &&
    typeof m.target === 'string' &&
    Array.isArray(m.features) &&
    m.features.every((f) => typeof f === 'string') &&
    Number.isInteger(m.window) &&
    (m.window as number) >= 1 &&
    Number.isInteger(m.horizon) &&
    (m.horizon as number) >= 1 &&
    (m.transform === 'difference' || m.transform === 'none')
  if (!ok) throw new LstmError('INVALID_ARGUMENT', 'this model carries no forecasting metadata: train it with `lstm-native train series --save FILE` (or trainSeries)')
  return m as SeriesModelMetadata
}

/**
 * Forecasts `steps` values after the end of `history`, in raw units, with a model from {@link trainSeries}: the
 * model's scalers and target transform come from its metadata. Each prediction gives `horizon` values; beyond them
 * the predictions are fed back as history (recursive forecasting), which needs a model of the target alone.
 * `history` is the target's values (a `Float32Array`, or every input column by name), oldest first, at least
 * `window` rows (`window + 1` with the `'difference'` transform), without NaN.
 */
export async function forecast(model: Sequential, history: Float32Array | Record<string, Float32Array>, steps: number): Promise<Float32Array> {
  const m = seriesMetadata(model)
  checkInt('forecast(): steps', steps, 1)
  const inputScaler = scalerFromJson(m.inputScaler)
  const targetScaler = scalerFromJson(m.targetScaler)
  const names = [m.target, ...m.features]
  const given: Record<string, Float32Array> = history instanceof Float32Array ? { [m.target]: history } : history
  if (typeof given !== 'object' || given === null) throw new LstmError('INVALID_ARGUMENT', `forecast(): history must be a Float32Array or columns by name, got ${describe(history)}`)
  const columns = names.map((name) => {
    const v = given[name]
    if (!(v instanceof Float32Array)) throw new LstmError('INVALID_ARGUMENT', `forecast(): history needs column ${JSON.stringify(name)} as a Float32Array, got ${describe(v)}`)
    const bad = v.findIndex((x) => !Number.isFinite(x))
    if (bad >= 0) throw new LstmError('NON_FINITE', `forecast(): history column ${JSON.stringify(name)} has ${v[bad]} at index ${bad}; fill missing values first (timeseries.fillMissing)`)
    return v
  })
  const needed = m.window + (m.transform === 'difference' ? 1 : 0)
  const n = columns[0].length
  if (n < needed || columns.some((c) => c.length !== n)) {
    throw new LstmError('INVALID_ARGUMENT', `forecast(): history needs ${needed} rows in every column (window ${m.window}${m.transform === 'difference' ? ' + 1 for the differences' : ''}), got ${columns.map((c) => c.length).join(', ')}`)
  }
  if (steps > m.horizon && m.features.length > 0) {
    throw new LstmError('INVALID_ARGUMENT', `forecast(): ${steps} steps need the predictions fed back, but the model also reads ${m.features.join(', ')}, which it does not predict; ask for at most horizon ${m.horizon} steps`)
  }
  // Only the last window (plus the row before it, for a difference) is read; the target grows with the predictions.
  const target = Array.from(columns[0].subarray(n - needed))
  const others = columns.slice(1).map((c) => c.subarray(n - needed))
  const out = new Float32Array(steps)
  for (let done = 0; done < steps; ) {
    const tail = [Float32Array.from(target.slice(target.length - needed)), ...others]
    const matrix = inputMatrix(tail, m.transform).subarray((needed - m.window) * names.length)
    const x = inputScaler.transform(tensor(Float32Array.from(matrix), [1, m.window, names.length]))
    const p = targetScaler.inverseTransform(await model.predict(x, { batchSize: 1 })).data
    const lastValue = target[target.length - 1]
    const take = Math.min(m.horizon, steps - done)
    for (let j = 0; j < take; j++) out[done + j] = p[j] + (m.transform === 'difference' ? lastValue : 0)
    for (let j = 0; j < take; j++) target.push(out[done + j])
    done += take
  }
  return out
}

/**
 * The times of the `k` rows after the last of `times` (ms since 1970, UTC): whole months (or years) apart when the
 * rows fall on the first of a month and keep one month step, else the median gap apart.
 */
export function nextTimes(times: ArrayLike<number>, k: number): Float64Array {
  const n = times.length
  if (n < 2) throw new LstmError('INVALID_ARGUMENT', `nextTimes(): need at least 2 times to find the step, got ${n}`)
  const monthOf = (t: number) => {
    const d = new Date(t)
    return d.getUTCDate() === 1 && t % 86_400_000 === 0 ? d.getUTCFullYear() * 12 + d.getUTCMonth() : undefined
  }
  const months = Array.from(times, monthOf)
  const steps = months.slice(1).map((m, i) => (m === undefined || months[i] === undefined ? undefined : m - (months[i] as number)))
  const out = new Float64Array(k)
  if (steps.every((s) => s !== undefined && s > 0 && s === steps[0])) {
    const last = months[n - 1] as number
    for (let j = 0; j < k; j++) {
      const m = last + (j + 1) * (steps[0] as number)
      out[j] = utc(Math.floor(m / 12), m % 12, 1)
    }
    return out
  }
  const gaps = Array.from({ length: n - 1 }, (_, i) => times[i + 1] - times[i]).sort((a, b) => a - b)
  const gap = gaps[Math.floor(gaps.length / 2)]
  for (let j = 0; j < k; j++) out[j] = times[n - 1] + (j + 1) * gap
  return out
}

/** A time as the shortest ISO form that keeps it: `1958`, `1958-03` or `1958-03-29`. */
export function formatTime(t: number, like: ArrayLike<number>): string {
  const d = new Date(t).toISOString()
  const all = (test: (d: Date) => boolean) => Array.from(like).every((x) => test(new Date(x)))
  if (all((x) => x.getUTCMonth() === 0 && x.getUTCDate() === 1)) return d.slice(0, 4)
  if (all((x) => x.getUTCDate() === 1)) return d.slice(0, 7)
  return d.slice(0, 10)
}

/**
 * `predict --csv`: forecasts `steps` values after the end of a CSV file with a model from `train series`, reading the
 * columns (and filling gaps) as its training did. Resolves to one `[time, value]` per step, the time as the file's rows
 * are spaced (or the step number when the file has no time column).
 */
export async function forecastCsv(model: Sequential, csv: string, steps: number): Promise<[string, number][]> {
  const m = seriesMetadata(model)
  let table = readCsv(csv, { columns: [m.target, ...m.features], dateColumn: m.dateColumn })
  if (m.fill !== undefined) table = fillMissing(table, m.fill)
  checkNoMissing(table, csv)
  const values = await forecast(model, table.columns, steps)
  const times = table.times && table.rows >= 2 ? nextTimes(table.times, steps) : undefined
  return Array.from(values, (v, j) => [times ? formatTime(times[j], table.times as Float64Array) : `+${j + 1}`, v])
}
