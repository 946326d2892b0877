/**
 * Time series: windows against hand-computed cases and against Keras's timeseries_dataset_from_array (a recorded
 * fixture), scalers, the chronological split, missing values, CSV reading, and a forecasting model whose file
 * restores its scalers and transform; the `train series` and `predict --csv` commands.
 */
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { forecast, LstmError, layers, preprocessing, readCsv, Sequential, serveModel, seriesMetadata, tensor, timeseries, trainSeries } from '../src/index.js'
import { formatTime, nextTimes } from '../src/tasks/series.js'
import { ensureDist } from './fixtures/dist.js'
import { expectThrows, ROOT, scratchDir } from './helpers.js'

const run = promisify(execFile)

const range = (n: number) => Float32Array.from({ length: n }, (_, i) => i)
/** The windows of x as nested arrays, [N][T][F]. */
const nested = (t: { data: ArrayLike<number>; shape: readonly number[] }) => {
  const [N, T, F] = t.shape
  return Array.from({ length: N }, (_, i) => Array.from({ length: T }, (_, j) => Array.from({ length: F }, (_, f) => t.data[(i * T + j) * F + f])))
}

describe('timeseries.windows', () => {
  it('cuts windows, targets and horizons as computed by hand', () => {
    const w = timeseries.windows(range(6), { sequenceLength: 3, targets: Float32Array.from([10, 11, 12, 13, 14, 15]) })
    expect(w.x.shape).toEqual([4, 3, 1])
    expect(nested(w.x).map((s) => s.map((v) => v[0]))).toEqual([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    expect(w.y?.shape).toEqual([4])
    expect(Array.from(w.y?.data ?? [])).toEqual([10, 11, 12, 13])
    expect(Array.from(w.starts)).toEqual([0, 1, 2, 3])

    // Sampling rate 2, stride 3, from row 1 to row 11 (exclusive): starts 1, 4; rows s, s+2, s+4.
    const s = timeseries.windows(range(12), { sequenceLength: 3, samplingRate: 2, stride: 3, start: 1, end: 11 })
    expect(nested(s.x).map((r) => r.map((v) => v[0]))).toEqual([[1, 3, 5], [4, 6, 8]])
    expect(s.y).toBeUndefined()

    // Two features, horizon 2 on the second column: the two rows after each window.
    const data = tensor(Float32Array.from([0, 100, 1, 101, 2, 102, 3, 103, 4, 104]), [5, 2])
    const h = timeseries.windows(data, { sequenceLength: 2, horizon: 2, targetColumn: 1 })
    expect(nested(h.x)).toEqual([[[0, 100], [1, 101]], [[1, 101], [2, 102]]])
    expect(h.y?.shape).toEqual([2, 2])
    expect(Array.from(h.y?.data ?? [])).toEqual([102, 103, 103, 104])
  })

  it("matches Keras's timeseries_dataset_from_array on the recorded cases", () => {
    const fixture = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/keras-windows/keras-windows.json'), 'utf8')) as {
      cases: { name: string; data: number[] | number[][]; targets: number[] | number[][] | null; options: Record<string, number>; x: number[][] | number[][][]; y: number[] | number[][] | null }[]
    }
    expect(fixture.cases.length).toBeGreaterThanOrEqual(9)
    const asTensor = (v: number[] | number[][]) => (Array.isArray(v[0]) ? tensor(Float32Array.from((v as number[][]).flat()), [v.length, (v[0] as number[]).length]) : Float32Array.from(v as number[]))
    for (const c of fixture.cases) {
      const o = c.options
      const w = timeseries.windows(asTensor(c.data), {
        sequenceLength: o.sequence_length,
        samplingRate: o.sampling_rate,
        stride: o.sequence_stride,
        start: o.start_index,
        end: o.end_index,
        ...(c.targets ? { targets: asTensor(c.targets) } : {}),
      })
      const x = nested(w.x).map((s) => s.map((r) => (Array.isArray(c.data[0]) ? r : r[0])))
      expect(x, c.name).toEqual(c.x.map((s) => (s as unknown[]).map((r) => (Array.isArray(r) ? r.map((v: number) => Math.fround(v)) : Math.fround(r as number)))))
      if (c.y) {
        const k = Array.isArray(c.y[0]) ? (c.y[0] as number[]).length : 1
        expect(w.y?.shape, c.name).toEqual(k > 1 || Array.isArray(c.y[0]) ? [c.y.length, k] : [c.y.length])
        expect(Array.from(w.y?.data ?? []), c.name).toEqual((c.y as (number | number[])[]).flat().map(Math.fround))
      } else expect(w.y, c.name).toBeUndefined()
    }
  })

  it('refuses windows that cannot be cut, with the sizes in the message', () => {
    expectThrows(() => timeseries.windows(range(4), { sequenceLength: 5 }), 'INVALID_ARGUMENT', /no window fits: rows 0 to 4 .* sequenceLength 5/)
    expectThrows(() => timeseries.windows(range(10), { sequenceLength: 3, horizon: 1, targets: range(10) }), 'INVALID_ARGUMENT', /targets or horizon, not both/)
    expectThrows(() => timeseries.windows(range(10), { sequenceLength: 0 }), 'INVALID_ARGUMENT', /sequenceLength must be an integer in \[1/)
    expectThrows(() => timeseries.windows(range(10), { sequenceLength: 2, start: 5, end: 5 }), 'INVALID_ARGUMENT', /end \(with start 5\)/)
    expectThrows(() => timeseries.windows(tensor(new Int32Array(4), [4]), { sequenceLength: 2 }), 'INVALID_ARGUMENT', /float32/)
  })
})

describe('preprocessing scalers', () => {
  it('fit on the training span only, and transform and inverseTransform round-trip', () => {
    const v = Float32Array.from([1, 2, 3, 4, 100, 200])
    const s = preprocessing.standardScaler().fit(v, { end: 4 })
    // Mean 2.5 and population deviation √1.25 of the first four rows; the last two do not move them.
    expect(s.toJSON().offset[0]).toBeCloseTo(2.5, 6)
    expect(s.toJSON().scale[0]).toBeCloseTo(Math.sqrt(1.25), 6)
    const z = s.transform(v)
    expect(z[0]).toBeCloseTo(-1.5 / Math.sqrt(1.25), 5)
    const back = s.inverseTransform(z)
    back.forEach((x, i) => expect(x).toBeCloseTo(v[i], 4))

    const m = tensor(Float32Array.from([0, 10, 5, 30, 10, 20]), [3, 2])
    const mm = preprocessing.minMaxScaler().fit(m)
    expect(Array.from(mm.transform(m).data)).toEqual([0, 0, 0.5, 1, 1, 0.5])
    expect(Array.from(mm.inverseTransform(mm.transform(m)).data)).toEqual(Array.from(m.data))
    // Restored from its JSON state, the scaler gives the same values.
    expect(Array.from(preprocessing.scalerFromJson(mm.toJSON()).transform(m).data)).toEqual(Array.from(mm.transform(m).data))
  })

  it('refuses NaN in the training span, use before fit, a feature-count mismatch and a bad state', () => {
    expectThrows(() => preprocessing.standardScaler().fit(Float32Array.from([1, Number.NaN, 3])), 'NON_FINITE', /row 1/)
    expectThrows(() => preprocessing.minMaxScaler().transform(Float32Array.from([1])), 'INVALID_ARGUMENT', /before fit/)
    const two = preprocessing.standardScaler().fit(tensor(Float32Array.from([1, 2, 3, 4]), [2, 2]))
    expectThrows(() => two.transform(Float32Array.from([1, 2])), 'SHAPE_MISMATCH', /fitted on 2 feature\(s\), got 1/)
    expectThrows(() => preprocessing.scalerFromJson({ kind: 'standard', offset: [0], scale: [0] }), 'INVALID_ARGUMENT', /not a scaler state/)
  })
})

describe('timeseries.split and fillMissing', () => {
  it('splits chronologically: 70%, 15%, the rest', () => {
    expect(timeseries.split(100)).toEqual({ train: { start: 0, end: 70 }, validation: { start: 70, end: 85 }, test: { start: 85, end: 100 } })
    expect(timeseries.split(2284)).toEqual({ train: { start: 0, end: 1598 }, validation: { start: 1598, end: 1941 }, test: { start: 1941, end: 2284 } })
    expect(timeseries.split(10, { train: 0.5, validation: 0.2 }).validation).toEqual({ start: 5, end: 7 })
    expectThrows(() => timeseries.split(10, { train: 0.9, validation: 0.1 }), 'INVALID_ARGUMENT', /leave no test rows/)
  })

  it('fills NaNs linearly or with the previous value, or drops their rows', () => {
    const v = Float32Array.from([Number.NaN, 1, Number.NaN, Number.NaN, 4, Number.NaN])
    expect(Array.from(timeseries.fillMissing(v, 'linear'))).toEqual([1, 1, 2, 3, 4, 4])
    expect(Array.from(timeseries.fillMissing(v, 'previous'))).toEqual([1, 1, 1, 1, 4, 4])
    expect(Array.from(timeseries.fillMissing(v, 'drop'))).toEqual([1, 4])
    expect(Number.isNaN(v[0])).toBe(true) // the input is left alone
    expectThrows(() => timeseries.fillMissing(Float32Array.from([Number.NaN]), 'linear'), 'NON_FINITE', /all NaN/)
    expectThrows(() => timeseries.fillMissing(v, 'mean' as never), 'INVALID_ARGUMENT', /'linear', 'previous' or 'drop'/)
  })

  it('a NaN left in the data is NON_FINITE at fit, naming the window and step that hold it', async () => {
    const v = Float32Array.from({ length: 20 }, (_, i) => (i === 7 ? Number.NaN : i))
    const { x, y } = timeseries.windows(v, { sequenceLength: 4, horizon: 1 })
    const model = new Sequential([layers.lstm({ units: 2, inputShape: [4, 1] }), layers.dense({ units: 1 })], { numThreads: 1 })
    model.compile({ loss: 'mse' })
    await expect(model.fit(x, y as never, { verbose: 0 })).rejects.toMatchObject({ code: 'NON_FINITE', message: expect.stringMatching(/x\[4, 3, 0\]/) })
    // Row 7 is the last step of window 4 (rows 4 to 7): the window's start is in `starts`.
    expect(timeseries.windows(v, { sequenceLength: 4, horizon: 1 }).starts[4]).toBe(4)
  })
})

describe('readCsv', () => {
  const { dir } = scratchDir('csv')
  it('reads quoted headers, missing values and YYYYMMDD, ISO and year dates', () => {
    const f = join(dir, 'a.csv')
    writeFileSync(f, '"when","a","b"\n19580329,1.5,2\n1958-04-05,,3\n1958,NA,"4"\n')
    const t = readCsv(f)
    expect(t.rows).toBe(3)
    expect(t.dateColumn).toBe('when')
    expect(Object.keys(t.columns)).toEqual(['a', 'b'])
    expect(Array.from(t.columns.a)).toEqual([1.5, Number.NaN, Number.NaN])
    expect(Array.from(t.columns.b)).toEqual([2, 3, 4])
    expect(Array.from(t.times ?? [])).toEqual([Date.UTC(1958, 2, 29), Date.UTC(1958, 3, 5), Date.UTC(1958, 0, 1)])
    const filled = timeseries.fillMissing(t, 'drop')
    expect(filled.rows).toBe(1)
    expect(filled.dates).toEqual(['19580329'])
    expect(Object.keys(readCsv(f, { columns: ['b'], dateColumn: false }).columns)).toEqual(['b'])
    // A first column asked for as values is not taken for the time column.
    const plain = join(dir, 'plain.csv')
    writeFileSync(plain, 'v\n1\n2\n')
    const p = readCsv(plain, { columns: ['v'] })
    expect([p.dateColumn, Array.from(p.columns.v)]).toEqual([undefined, [1, 2]])
  })

  it('names the line and column of a bad cell, and an unknown column', () => {
    const f = join(dir, 'bad.csv')
    writeFileSync(f, 'date,v\n2001-01-01,1\n2001-01-02,x1\n')
    expectThrows(() => readCsv(f), 'INVALID_ARGUMENT', /line 3, column "v": "x1" is not a number/)
    writeFileSync(f, 'date,v\n2001-13-01,1\n')
    expectThrows(() => readCsv(f), 'INVALID_ARGUMENT', /line 2, date column "date": "2001-13-01" is not a date/)
    expectThrows(() => readCsv(f, { columns: ['w'] }), 'INVALID_ARGUMENT', /no column "w"; its columns are "date", "v"/)
    expectThrows(() => readCsv(join(dir, 'none.csv')), 'IO', /cannot read/)
  })
})

describe('forecast dates', () => {
  it('continue whole years, whole months, or the median gap', () => {
    const years = [1800, 1801, 1802].map((y) => Date.UTC(y, 0, 1))
    expect(Array.from(nextTimes(years, 2), (t) => formatTime(t, years))).toEqual(['1803', '1804'])
    const months = [Date.UTC(1950, 10, 1), Date.UTC(1950, 11, 1)]
    expect(Array.from(nextTimes(months, 2), (t) => formatTime(t, months))).toEqual(['1951-01', '1951-02'])
    const weeks = [Date.UTC(2001, 11, 15), Date.UTC(2001, 11, 22), Date.UTC(2001, 11, 29)]
    expect(Array.from(nextTimes(weeks, 1), (t) => formatTime(t, weeks))).toEqual(['2002-01-05'])
  })
})

/** A weekly-like series with a trend, a season and noise, as a CSV of `rows` rows. */
function syntheticCsv(path: string, rows: number, gaps = false): void {
  const lines = ['date,level']
  let seed = 1
  const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.2
  for (let i = 0; i < rows; i++) {
    const day = new Date(Date.UTC(2000, 0, 1) + i * 7 * 86_400_000).toISOString().slice(0, 10)
    const v = 10 + 0.05 * i + Math.sin((2 * Math.PI * i) / 26) + noise()
    lines.push(`${day},${gaps && i % 17 === 5 ? '' : v.toFixed(4)}`)
  }
  writeFileSync(path, `${lines.join('\n')}\n`)
}

describe('trainSeries and forecast', () => {
  const { dir } = scratchDir('series')
  const csv = join(dir, 'synthetic.csv')
  syntheticCsv(csv, 300, true)

  it('a saved model restores its scalers and transform, and forecasts the same values from the file', async () => {
    const r = await trainSeries({ csv, target: 'level', window: 12, fill: 'linear', epochs: 3, verbose: 0, numThreads: 1, log: () => {}, save: join(dir, 'm.safetensors') })
    const meta = seriesMetadata(r.model)
    expect(meta.transform).toBe('difference')
    const loaded = await Sequential.load(join(dir, 'm.safetensors'), { numThreads: 1 })
    expect(loaded.metadata).toEqual(r.model.metadata)
    const history = timeseries.fillMissing(readCsv(csv).columns.level, 'linear')
    const a = await forecast(r.model, history, 5)
    const b = await forecast(loaded, history, 5)
    expect(Array.from(b)).toEqual(Array.from(a))

    // The first value by hand: the last 12 differences scaled by the saved input scaler, the output unscaled by the
    // saved target scaler, added to the last value.
    const input = preprocessing.scalerFromJson(meta.inputScaler)
    const target = preprocessing.scalerFromJson(meta.targetScaler)
    const n = history.length
    const d = Float32Array.from({ length: 12 }, (_, j) => history[n - 12 + j] - history[n - 13 + j])
    const out = target.inverseTransform(loaded.predictSync(input.transform(tensor(d, [1, 12, 1]))))
    expect(a[0]).toBeCloseTo(history[n - 1] + out.data[0], 4)
    // Recursive: the second value is the first forecast from the history with the first prediction appended.
    const next = await forecast(loaded, Float32Array.from([...history, a[0]]), 1)
    expect(a[1]).toBeCloseTo(next[0], 4)

    expect(r.test.mae).toBeGreaterThan(0)
    expect(r.testRows.rows.length).toBe(r.sizes.test)
    await expect(forecast(loaded, history.subarray(0, 12), 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/needs 13 rows/) })
    const broken = Float32Array.from(history)
    broken[n - 3] = Number.NaN
    await expect(forecast(loaded, broken, 1)).rejects.toMatchObject({ code: 'NON_FINITE', message: expect.stringMatching(new RegExp(`index ${n - 3}`)) })
  }, 60_000)

  it('serve takes a history in raw units and answers the forecast, through the scalers saved with the model', async () => {
    const file = join(dir, 'served.safetensors')
    await trainSeries({ csv, target: 'level', window: 8, horizon: 2, fill: 'linear', epochs: 1, verbose: 0, numThreads: 1, log: () => {}, save: file })
    const loaded = await Sequential.load(file, { numThreads: 1 })
    const history = timeseries.fillMissing(readCsv(csv).columns.level, 'linear')
    const server = await serveModel({ model: file, port: 0, log: () => {} })
    try {
      const post = (instances: unknown[]) => fetch(`${server.url}/v1/models/served:predict`, { method: 'POST', body: JSON.stringify({ instances }) })
      const res = await post([Array.from(history.subarray(0, 100)), Array.from(history)])
      expect(res.status).toBe(200)
      const { predictions } = (await res.json()) as { predictions: number[][] }
      expect(predictions[0]).toEqual(Array.from(await forecast(loaded, history.subarray(0, 100), 2)))
      expect(predictions[1]).toEqual(Array.from(await forecast(loaded, history, 2)))
      // Forecasts run off the event loop through predict, so the server's batching coalesces concurrent ones.
      const m = server.model
      const syncCalls: unknown[] = []
      const predictSync = m.predictSync.bind(m)
      m.predictSync = (...args) => (syncCalls.push(args), predictSync(...args))
      const sizes: number[] = []
      const nm = (m as unknown as { nativeModel: { predict: (x: unknown, shape: number[], b: number) => Promise<unknown> } }).nativeModel
      const nativePredict = nm.predict.bind(nm)
      nm.predict = (x, shape, b) => (sizes.push(shape[0]), nativePredict(x, shape, b))
      const ends = [60, 80, 100, 120]
      const together = await Promise.all(ends.map((e) => forecast(m, history.subarray(0, e), 2)))
      expect(syncCalls).toEqual([])
      expect(sizes).toEqual([4])
      for (const [k, e] of ends.entries()) {
        const alone = await forecast(loaded, history.subarray(0, e), 2)
        together[k].forEach((v, j) => expect(v).toBeCloseTo(alone[j], 5))
      }
      const info = (await (await fetch(`${server.url}/v1/models/served`)).json()) as { input: { kind: string } }
      expect(info.input.kind).toBe('series')
      const short = await post([Array.from(history.subarray(0, 5))])
      expect(short.status).toBe(400)
      expect(((await short.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/needs 9 rows/) })
    } finally {
      await server.close()
    }
    // Forecasts count in the bounded queue like any prediction: the first waits 300 ms for company, the second is 503.
    const bounded = await serveModel({ model: file, port: 0, maxQueue: 1, maxDelayMs: 300, log: () => {} })
    try {
      const body = JSON.stringify({ instances: [Array.from(history)] })
      const rs = await Promise.all([0, 1].map(() => fetch(`${bounded.url}/v1/models/served:predict`, { method: 'POST', body })))
      expect(rs.map((r) => r.status).sort()).toEqual([200, 503])
    } finally {
      await bounded.close()
    }
  }, 60_000)

  it("a direct model predicts `horizon` values at once; without --fill a gap is NON_FINITE naming its row", async () => {
    const r = await trainSeries({ csv, target: 'level', window: 8, horizon: 3, fill: 'previous', epochs: 1, verbose: 0, numThreads: 1, log: () => {} })
    const history = timeseries.fillMissing(readCsv(csv).columns.level, 'previous')
    const three = await forecast(r.model, history, 3)
    const meta = seriesMetadata(r.model)
    const n = history.length
    const d = Float32Array.from({ length: 8 }, (_, j) => history[n - 8 + j] - history[n - 9 + j])
    const out = preprocessing.scalerFromJson(meta.targetScaler).inverseTransform(r.model.predictSync(preprocessing.scalerFromJson(meta.inputScaler).transform(tensor(d, [1, 8, 1]))))
    expect(out.shape).toEqual([1, 3])
    Array.from(three).forEach((v, j) => expect(v).toBeCloseTo(history[n - 1] + out.data[j], 4))
    await expect(trainSeries({ csv, target: 'level', window: 8, epochs: 1, verbose: 0, log: () => {} })).rejects.toMatchObject({ code: 'NON_FINITE', message: expect.stringMatching(/no value in data row 6 \(2000-02-05\).*--fill/) })
  }, 60_000)

  it("on a rising series, predicting differences beats predicting levels scaled on the training span", async () => {
    const ramp = join(dir, 'ramp.csv')
    const lines = ['t,v']
    for (let i = 0; i < 200; i++) lines.push(`${1800 + i},${(i * 0.5 + Math.sin(i) * 0.1).toFixed(4)}`)
    writeFileSync(ramp, `${lines.join('\n')}\n`)
    const common = { csv: ramp, target: 'v', window: 8, epochs: 20, verbose: 0 as const, numThreads: 1, log: () => {} }
    const diff = await trainSeries(common)
    const levels = await trainSeries({ ...common, transform: 'none' })
    expect(diff.test.mae).toBeLessThan(diff.baselineLast.mae)
    expect(diff.test.mae * 3).toBeLessThan(levels.test.mae)
  }, 60_000)
})

describe('CLI: train series and predict --csv', () => {
  const cli = join(ROOT, 'dist/cli.js')
  const { dir } = scratchDir('series-cli')
  beforeAll(() => ensureDist(), 150_000)

  it('ends with the MAE/RMSE and baseline lines, and predict --csv forecasts dated steps', async () => {
    const csv = join(dir, 's.csv')
    syntheticCsv(csv, 240)
    const model = join(dir, 'm.safetensors')
    const plot = join(dir, 'p.svg')
    const { stdout } = await run(process.execPath, [cli, 'train', 'series', '--csv', csv, '--target', 'level', '--window', '10', '--epochs', '2', '--season', '26', '--unit', 'm', '--save', model, '--plot', plot, '--threads', '1'])
    const lines = stdout.trim().split('\n')
    expect(lines.at(-2)).toMatch(/^test MAE: [\d.]+, RMSE: [\d.]+ \(m\)$/)
    expect(lines.at(-1)).toMatch(/^baseline last value: MAE [\d.]+, RMSE [\d.]+$/)
    expect(stdout).toMatch(/baseline one season \(26 steps\) ago: MAE [\d.]+/)
    const svg = readFileSync(plot, 'utf8')
    expect(svg).toMatch(/<svg/)
    expect(svg).toMatch(/>2004-0\d</) // a month tick in the test span (2003-12 to 2004-07)
    expect(svg).toMatch(/>actual</)

    const p = await run(process.execPath, [cli, 'predict', '--model', model, '--csv', csv, '--steps', '3'])
    const out = p.stdout.trim().split('\n')
    expect(out.map((l) => l.split(' ')[0])).toEqual(['2004-08-07', '2004-08-14', '2004-08-21'])
    out.forEach((l) => expect(Number(l.split(' ')[1])).toBeGreaterThan(15))
  }, 60_000)

  it('refuses a missing value without --fill, and --csv with a sentiment model', async () => {
    const csv = join(dir, 'gaps.csv')
    syntheticCsv(csv, 100, true)
    const e = await run(process.execPath, [cli, 'train', 'series', '--csv', csv, '--target', 'level', '--window', '5']).catch((err: { stderr: string }) => err)
    expect((e as { stderr: string }).stderr).toMatch(/NON_FINITE: .*no value in data row 6/)
    const bad = await run(process.execPath, [cli, 'train', 'series', '--csv', csv, '--target', 'level', '--fill', 'mean']).catch((err: { stderr: string }) => err)
    expect((bad as { stderr: string }).stderr).toMatch(/--fill.*'mean' is invalid/)
  }, 30_000)
})

it('LstmError is what every refusal above throws', () => {
  expect(() => timeseries.split(2)).toThrow(LstmError)
})
