/**
 * The tutorial's second model: IMDB sentiment. Embedding(1000, 50), Dropout(.2), LSTM(100, dropout .2,
 * recurrentDropout .2), Dense(250, relu), Dropout(.2), Dense(1, sigmoid); Adam, binary cross-entropy, batch 64,
 * reviews padded and cut to 200 tokens ('pre'), as the tutorial does.
 */
import { availableParallelism } from 'node:os'
import { existsSync, writeFileSync } from 'node:fs'
import { earlyStopping, learningRateScheduler, type Callback, type History } from '../callbacks.js'
import { downloadFile } from '../datasets/download.js'
import { IMDB_URL, loadPadded, type ImdbLoadOptions } from '../datasets/imdb.js'
import { LstmError } from '../errors.js'
import * as layers from '../layers.js'
import { Sequential } from '../model.js'
import { checkOutputPath } from '../paths.js'
import { historySvg } from '../plot.js'
import { padSequences } from '../text.js'
import { checkBool, checkInt, checkPath, describe, optionsOf } from '../validate.js'

/** Options of {@link trainImdb}; the defaults are the article's. */
export interface TrainImdbOptions {
  /** The aclImdb archive or folder. Default: the bundled 2,000-review sample. */
  data?: string
  /** Default 3. */
  epochs?: number
  /** Default 64. */
  batchSize?: number
  /** Vocabulary size (the embedding's inputDim). Default 1,000. */
  numWords?: number
  /** Tokens per review after padding/cutting ('pre'). Default 200. */
  maxlen?: number
  /** Fraction of the training reviews held out for validation. Default 0 (0.1 with `earlyStopping`). */
  validationSplit?: number
  /** Stop after this many epochs without a better validation loss, and restore the best weights. */
  earlyStopping?: number
  /** Seeds the weights, the dropout masks and the order of each epoch. Default 0. */
  seed?: number
  /**
   * Shuffle the reviews once as Keras' `imdb.load_data` does (its permutation, seed 113) before training. Default
   * true. With false they stay in file order (negatives, then positives): a `validationSplit` then holds only
   * positive reviews.
   */
  shuffle?: boolean
  /** Read both directions (Bidirectional LSTM). Default false. */
  bidirectional?: boolean
  /** Mask the padding (id 0) so the LSTM skips it. Default false. */
  maskZero?: boolean
  /** LSTM units. Default 100. */
  units?: number
  /** Embedding size. Default 50. */
  embeddingDim?: number
  /** What the dense layers read: the LSTM's last state (the tutorial), or the max or mean over every step's output. */
  pooling?: ImdbPooling
  /** The recurrent layer: `'lstm'` (the tutorial's), `'gru'` or `'rnn'` (SimpleRNN), with the same units and dropouts. Default `'lstm'`. */
  cell?: ImdbCell
  /** A Conv1D(filters, kernelSize, relu) + MaxPooling1D(poolSize) block between the embedding's dropout and the recurrent layer. Default: none. */
  conv?: ImdbConv
  /** The rate of every dropout in the model: both Dropout layers and the LSTM's dropout and recurrentDropout. Default 0.2 (the tutorial's). */
  dropout?: number
  /** Adam's learning rate. Default 0.001 (Keras's). */
  learningRate?: number
  /** Multiply the learning rate by this after every epoch (a LearningRateScheduler). Default 1: a constant rate. */
  lrDecay?: number
  /** Clip each gradient tensor to this L2 norm (Keras `clipnorm`). Default: no clipping. */
  clipnorm?: number
  /** Default: one per core. */
  numThreads?: number
  /** 0 silent, 1 progress bar. Default 1. */
  verbose?: 0 | 1
  /** Write the trained model here (it carries the word index for `predict`). */
  save?: string
  /** Write an SVG of loss and accuracy per epoch here (a `.svg` file). */
  plot?: string
  /**
   * Without `data`: read the full dataset from the cache folder, downloading it there first (84 MB from
   * {@link IMDB_URL}) when it is missing. With `data` naming a file that does not exist yet: download it to there.
   * Default false: never download unasked.
   */
  download?: boolean
  /** Where `download` fetches the archive from. Default {@link IMDB_URL}. */
  url?: string
  /** Where the summary lines go (the sizes, the test accuracy). Default console.log. */
  log?: (line: string) => void
}

/** What {@link trainImdb} resolves to. */
export interface TrainImdbResult {
  /** The trained model, with its word index in `metadata`. */
  model: Sequential
  /** Loss and accuracy per epoch. */
  history: History
  /** Loss over the test reviews. */
  testLoss: number
  /** Accuracy over the test reviews. */
  testAccuracy: number
  /** Wall time of the whole run: loading, training and the test pass. */
  seconds: number
  /** Training reviews read (validation included). */
  trainSize: number
  /** Test reviews read. */
  testSize: number
}

/** What a sentiment model saves so that `predictReview` can encode text like its training data. */
export interface ImdbModelMetadata {
  /** Marks a sentiment model. */
  task: 'imdb'
  /** Tokens per review the model was trained on. */
  maxlen: number
  /** Id put at the start of every review. */
  startChar: number
  /** Id of words outside the vocabulary. */
  oovChar: number
  /** Id of the most frequent word. */
  indexFrom: number
  /** Words with ids indexFrom, indexFrom+1, ... (the kept vocabulary, most frequent first). */
  words: string[]
}

/** `'last'`: the LSTM's final state (the tutorial); `'max'`/`'average'`: global pooling over its whole output sequence. */
export type ImdbPooling = 'last' | 'max' | 'average'

/** The recurrent layer of the sentiment model. */
export type ImdbCell = 'lstm' | 'gru' | 'rnn'

/** A convolution block before the recurrent layer: Conv1D(filters, kernelSize, relu), then MaxPooling1D(poolSize, default 2). */
export interface ImdbConv {
  /** The Conv1D's output channels. */
  filters: number
  /** The Conv1D's window length in steps (relu activation, Keras's default `valid` padding). */
  kernelSize: number
  /** The pool size of the MaxPooling1D after it. Default 2. */
  poolSize?: number
}

/** The tutorial's model, with the options the CLI offers. Bad options are `INVALID_CONFIG`, as for `new Sequential`. */
export function imdbModel(
  options?: {
    numWords?: number
    embeddingDim?: number
    units?: number
    bidirectional?: boolean
    maskZero?: boolean
    pooling?: ImdbPooling
    cell?: ImdbCell
    conv?: ImdbConv
    dropout?: number
    seed?: number
    numThreads?: number
  } | null,
): Sequential {
  const { numWords = 1000, embeddingDim = 50, units = 100, bidirectional = false, maskZero = false, pooling = 'last', cell = 'lstm', conv, dropout = 0.2, seed = 0, numThreads = availableParallelism() } = optionsOf('imdbModel()', options, 'INVALID_CONFIG')
  const pools: Record<ImdbPooling, layers.LayerSpec[]> = { last: [], max: [layers.globalMaxPooling1d()], average: [layers.globalAveragePooling1d()] }
  if (typeof pooling !== 'string' || !Object.hasOwn(pools, pooling)) throw new LstmError('INVALID_CONFIG', `pooling must be 'last', 'max' or 'average', got ${describe(pooling)}`)
  const pool = pools[pooling]
  const recurrentOptions = { units, dropout, recurrentDropout: dropout, bidirectional, returnSequences: pooling !== 'last' }
  const cells: Record<ImdbCell, () => layers.LayerSpec> = {
    lstm: () => layers.lstm(recurrentOptions),
    gru: () => layers.gru(recurrentOptions),
    rnn: () => layers.simpleRnn(recurrentOptions),
  }
  if (typeof cell !== 'string' || !Object.hasOwn(cells, cell)) throw new LstmError('INVALID_CONFIG', `cell must be 'lstm', 'gru' or 'rnn', got ${describe(cell)}`)
  if (conv !== undefined && (typeof conv !== 'object' || conv === null || Array.isArray(conv))) {
    throw new LstmError('INVALID_CONFIG', `conv must be an object { filters, kernelSize, poolSize? }, got ${describe(conv)}`)
  }
  const convBlock = conv
    ? [
        layers.conv1d({ filters: conv.filters, kernelSize: conv.kernelSize, activation: 'relu' }),
        layers.maxPooling1d({ poolSize: conv.poolSize === undefined ? 2 : conv.poolSize }),
      ]
    : []
  return new Sequential(
    [
      layers.embedding({ inputDim: numWords, outputDim: embeddingDim, maskZero }),
      layers.dropout({ rate: dropout }),
      ...convBlock,
      cells[cell](),
      ...pool,
      layers.dense({ units: 250, activation: 'relu' }),
      layers.dropout({ rate: dropout }),
      layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
    { seed, numThreads, name: 'imdb_sentiment' },
  )
}

/**
 * Trains the sentiment model and prints `test accuracy: 0.8512` over the whole test set. Every option is checked
 * before the data is read: the run's own are `INVALID_ARGUMENT`, the model's (units, cell, ...) `INVALID_CONFIG`.
 */
export async function trainImdb(options?: TrainImdbOptions | null): Promise<TrainImdbResult> {
  const start = performance.now()
  const o = optionsOf('trainImdb()', options)
  const what = (name: string) => `trainImdb(): ${name}`
  const int = (name: keyof TrainImdbOptions, fallback: number, min: number) => (o[name] === undefined ? fallback : checkInt(what(name), o[name], min))
  const epochs = int('epochs', 3, 1)
  const batchSize = int('batchSize', 64, 1)
  const numWords = int('numWords', 1000, 1)
  const maxlen = int('maxlen', 200, 1)
  const patience = o.earlyStopping === undefined ? undefined : checkInt(what('earlyStopping'), o.earlyStopping, 0)
  const validationSplit = o.validationSplit === undefined ? (patience !== undefined ? 0.1 : 0) : o.validationSplit
  if (typeof validationSplit !== 'number' || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new LstmError('INVALID_ARGUMENT', `${what('validationSplit')} must be a number in [0, 1), got ${describe(o.validationSplit)}`)
  }
  const verbose = o.verbose === undefined ? 1 : o.verbose
  if (verbose !== 0 && verbose !== 1) throw new LstmError('INVALID_ARGUMENT', `${what('verbose')} must be 0 or 1, got ${describe(o.verbose)}`)
  const lrDecay = o.lrDecay === undefined ? 1 : o.lrDecay
  if (typeof lrDecay !== 'number' || !(lrDecay > 0 && lrDecay <= 1)) throw new LstmError('INVALID_ARGUMENT', `${what('lrDecay')} must be a number in (0, 1], got ${describe(o.lrDecay)}`)
  const shuffle = checkBool(what('shuffle'), o.shuffle) ?? true
  const download = checkBool(what('download'), o.download) ?? false
  if (o.data !== undefined) checkPath(what('data'), o.data)
  const url = o.url === undefined ? IMDB_URL : o.url
  if (typeof url !== 'string') throw new LstmError('INVALID_ARGUMENT', `${what('url')} must be a string, got ${describe(url)}`)
  const log = o.log === undefined ? console.log : o.log
  if (typeof log !== 'function') throw new LstmError('INVALID_ARGUMENT', `${what('log')} must be a function, got ${describe(log)}`)
  // Output paths first: a typo must fail now, not after the whole run.
  if (o.save !== undefined) checkOutputPath(o.save, 'save')
  if (o.plot !== undefined) checkOutputPath(o.plot, 'plot', '.svg')
  // The model too: its options are checked before the data is read.
  const model = imdbModel({ ...o, numWords })
  const { learningRate, clipnorm } = o
  model.compile({ loss: 'binaryCrossentropy', optimizer: { type: 'adam', learningRate, clipnorm }, metrics: ['accuracy'] })

  let source: ImdbLoadOptions
  if (o.data !== undefined) {
    if (download && !existsSync(o.data)) {
      checkOutputPath(o.data, 'download')
      await downloadFile(url, o.data)
    }
    source = { path: o.data }
  } else source = download ? { download: true, url } : { sample: true }
  // Padded straight from the tokenized reviews: no array per review, whose 11 million numbers the garbage collector
  // would walk (pausing the event loop) for the whole run.
  // Of the vocabulary only the words the model keeps outlive the loading: the whole of it (90,000 strings) would be
  // half the heap during fit, which the garbage collector walks and compacts there, pausing the event loop.
  const data = await loadPadded({ ...source, numWords, shuffle }, maxlen).then(({ vocabulary, ...rest }) => ({ ...rest, words: vocabulary.slice(0, Math.max(numWords - 3, 0)) }))
  const [trainSize, testSize] = [data.xTrain.shape[0], data.xTest.shape[0]]
  const full = o.data !== undefined || download
  if (verbose) log(`IMDB: ${trainSize} training and ${testSize} test reviews${full ? '' : ' (the bundled sample; pass --data FILE or --download for the full dataset)'}`)

  const callbacks: Callback[] = []
  if (lrDecay !== 1) callbacks.push(learningRateScheduler((epoch, lr) => (epoch === 0 ? lr : lr * lrDecay)))
  if (patience !== undefined) callbacks.push(earlyStopping({ monitor: 'val_loss', patience, restoreBestWeights: true }))
  const history = await model.fit(data.xTrain, data.yTrain, { epochs, batchSize, validationSplit, verbose, callbacks })
  const test = await model.evaluate(data.xTest, data.yTest, { batchSize: 500 })
  const testAccuracy = test.accuracy ?? Number.NaN
  log(`test accuracy: ${testAccuracy.toFixed(4)}`)

  const metadata: ImdbModelMetadata = { task: 'imdb', maxlen, startChar: 1, oovChar: 2, indexFrom: 3, words: data.words }
  model.metadata = { ...metadata }
  if (o.save) await model.save(o.save)
  if (o.plot) {
    try {
      writeFileSync(o.plot, historySvg(history))
    } catch (err) {
      throw new LstmError('IO', `plot: cannot write ${o.plot}: ${(err as Error).message}`, { cause: err })
    }
  }
  return { model, history, testLoss: test.loss, testAccuracy, seconds: (performance.now() - start) / 1000, trainSize, testSize }
}

/** Words of a review as the loader tokenizes them: lower case, `<br />` as space, tokens `[a-z0-9']+`. */
export function reviewWords(text: string): string[] {
  if (typeof text !== 'string') throw new LstmError('INVALID_ARGUMENT', `reviewWords: text must be a string, got ${describe(text)}`)
  return text.toLowerCase().replaceAll('<br />', ' ').match(/[a-z0-9']+/g) ?? []
}

/**
 * A review's token ids as a model trained by `trainImdb` reads them, from the word index its metadata carries:
 * the start id, then each word's id (or the out-of-vocabulary id). The index is built once per encoder.
 */
export function reviewEncoder(m: Pick<ImdbModelMetadata, 'words'> & Partial<ImdbModelMetadata>): (review: string) => number[] {
  const index = new Map(m.words.map((w, i) => [w, i + (m.indexFrom ?? 3)]))
  return (review) => [m.startChar ?? 1, ...reviewWords(review).map((w) => index.get(w) ?? m.oovChar ?? 2)]
}

/** The probability that `review` is positive, from a model trained by `trainImdb`. */
export async function predictReview(model: Sequential, review: string): Promise<number> {
  if (typeof model !== 'object' || model === null || typeof (model as Partial<Sequential>).predict !== 'function') {
    throw new LstmError('INVALID_ARGUMENT', `predictReview: model must be a Sequential, got ${describe(model)}`)
  }
  if (typeof review !== 'string') throw new LstmError('INVALID_ARGUMENT', `predictReview: review must be a string, got ${describe(review)}`)
  const m = (model.metadata ?? {}) as Partial<ImdbModelMetadata>
  if (m.task !== 'imdb' || !Array.isArray(m.words) || !m.maxlen) {
    throw new LstmError('INVALID_ARGUMENT', 'this model carries no word index: train it with `lstm-native train imdb --save FILE`')
  }
  const x = padSequences([reviewEncoder({ ...m, words: m.words })(review)], { maxlen: m.maxlen })
  const out = await model.predict(x, { batchSize: 1 })
  return out.data[0]
}
