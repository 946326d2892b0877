import { Sequential, forecast, readCsv, timeseries, trainSeries } from 'lstm-native'

// Weekly CO2 at Mauna Loa, 1958–2001 (a copy of the package's data/mauna-loa-co2-weekly.csv in the working folder):
// 52 weeks in, the next week out; trained on the first 70% of the weeks, tested on the last 15%.
const csv = 'mauna-loa-co2-weekly.csv'
const { test, baselineLast } = await trainSeries({ csv, target: 'co2', window: 52, fill: 'linear', unit: 'ppm', save: 'co2.safetensors', plot: 'co2.svg', verbose: 0 })
console.log(`test MAE ${test.mae.toFixed(3)} ppm; repeating the last value: ${baselineLast.mae.toFixed(3)} ppm`)

// Half a year after the end of the file, each week's prediction fed back as history for the next.
const model = await Sequential.load('co2.safetensors') // the scalers and the target transform travel in the file
const co2 = timeseries.fillMissing(readCsv(csv).columns.co2, 'linear')
console.log(Array.from(await forecast(model, co2, 26), (v) => v.toFixed(2)).join(' '))
