/**
 * lstm-native: train and run LSTM networks from TypeScript at native speed, with a Keras-like API.
 *
 *   import { Sequential, layers, tensor, callbacks } from 'lstm-native'
 */
export { Sequential, loadModel } from './model.js'
export type { BatchingOptions } from './batching.js'
export type {
  SequentialOptions,
  FromKerasOptions,
  CompileOptions,
  FitOptions,
  AbortSignalLike,
  EvaluateOptions,
  PredictOptions,
  SaveOptions,
  EvaluateResult,
  Weights,
  Loss,
  LossName,
  Optimizer,
  AdamOptions,
  RmspropOptions,
  SgdOptions,
} from './model.js'
/** Layer factories: `layers.embedding`, `layers.lstm`, `layers.dense`, `layers.dropout`, global pooling. */
export * as layers from './layers.js'
export type { LayerSpec, EmbeddingConfig, LstmConfig, GruConfig, SimpleRnnConfig, RecurrentConfig, Conv1dConfig, MaxPooling1dConfig, Padding, DenseConfig, DropoutConfig, GlobalPoolingConfig, Activation, Initializer, InputShape } from './layers.js'
/** Training callbacks, as Keras's: progress bar, early stopping, checkpoints, learning-rate schedule. */
export * as callbacks from './callbacks.js'
export { History } from './callbacks.js'
export type { Callback, Logs, FitParams } from './callbacks.js'
export { tensor, isTensor } from './tensor.js'
export type { Tensor, TensorLike, DType } from './tensor.js'
export { backend } from './backend.js'
export type { Backend, SimdLevel } from './backend.js'
export { LstmError } from './errors.js'
export type { ErrorCode } from './errors.js'
/** Text helpers: reading words, vocabularies, Keras's Tokenizer and padSequences. */
export * as text from './text.js'
export { Tokenizer, padSequences } from './text.js'
/** Datasets: `datasets.imdb`, the Large Movie Review Dataset. */
export * as datasets from './datasets/index.js'
export { generate, seededRandom } from './generate.js'
export type { GenerateOptions, WordModelMetadata } from './generate.js'
export { cosineDecay, trainWords, wordModel } from './tasks/words.js'
export type { TrainWordsOptions, TrainWordsResult, WordsReport } from './tasks/words.js'
export { trainImdb, imdbModel, predictReview, reviewWords } from './tasks/imdb.js'
export type { TrainImdbOptions, TrainImdbResult, ImdbModelMetadata, ImdbPooling, ImdbCell, ImdbConv } from './tasks/imdb.js'
export { historySvg, forecastSvg } from './plot.js'
export { serveModel } from './serve.js'
export type { ServeOptions, ModelServer } from './serve.js'
export type { ForecastPlotOptions, PlotSeries } from './plot.js'
/** Time series: `timeseries.fillMissing`, `timeseries.windows` (Keras's `timeseries_dataset_from_array`), `timeseries.split`. */
export * as timeseries from './timeseries.js'
export { readCsv } from './timeseries.js'
export type { ReadCsvOptions, CsvTable, FillMethod, WindowsOptions, Windows, Span, SplitOptions, Split } from './timeseries.js'
/** Feature scalers fitted on the training span: `preprocessing.standardScaler()`, `preprocessing.minMaxScaler()`. */
export * as preprocessing from './preprocessing.js'
export type { Scaler, ScalerState, FitRange } from './preprocessing.js'
export { trainSeries, seriesModel, seriesMetadata, forecast } from './tasks/series.js'
export type { TrainSeriesOptions, TrainSeriesResult, SeriesModelMetadata, TargetTransform, SeriesCell, ErrorFigures } from './tasks/series.js'
