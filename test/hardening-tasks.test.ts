/**
 * Issue 17, classes 3 and 4 for the tutorial tasks (`trainImdb`, `imdbModel`, `predictReview`, `reviewWords`,
 * `trainWords`, `wordModel`, `cosineDecay`) and the dataset loader (`datasets.imdb.load`, `readArchiveReviews`):
 * every option given `null`, a wrong type, NaN, a fraction or an out-of-range integer is an `LstmError` with a code,
 * never a bare `TypeError`, a silent default or a run that starts. A task's own options are `INVALID_ARGUMENT`, the
 * model's (units, cell, seed, ...) `INVALID_CONFIG`, as for `new Sequential`. The runs point at data that does not
 * exist, so each row also shows that the options are checked before any data is read: a valid call would fail
 * with `IO` instead.
 */
import { describe, expect, it } from 'vitest'
import { cosineDecay, datasets, imdbModel, LstmError, predictReview, reviewWords, Sequential, trainImdb, trainWords, wordModel } from '../src/index.js'
import { failure, tokenModel } from './helpers.js'

const any = (v: unknown) => v as never

type Row = [string, () => unknown, string, RegExp]

function label(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'string') return JSON.stringify(v)
  if (Array.isArray(v)) return '[]'
  if (typeof v === 'object' && v !== null) return JSON.stringify(v)
  return String(v)
}

/** One row per bad value of `option`, each expecting `code` and a message matching `message` (default: the option's name). */
function rows(fn: string, call: (option: string, v: unknown) => unknown, option: string, values: unknown[], code: string, message = new RegExp(option)): Row[] {
  return values.map((v) => [`${fn} ${option}: ${label(v)}`, () => call(option, v), code, message])
}

const COUNTS = [null, Number.NaN, 1.5, -1, 0, '3', true, 10n, 2 ** 31, 2 ** 32 + 1]
const COUNTS_FROM_0 = [null, Number.NaN, 1.5, -1, '3', 2 ** 31]
const BOOLS = [null, 'yes', 1, {}]
const STRINGS = [null, 5, {}, 10n]
const FUNCTIONS = [null, 5, 'log']
const THREADS = [null, 0, -1, 257, 1.5, '2']
const SEEDS = [null, Number.NaN, -1, 1.5, '1']
const RATES = [null, Number.NaN, Number.POSITIVE_INFINITY, -1, '0.1']

// A valid call with these would fail with IO (no such data).
const IMDB_BASE = { data: '/nonexistent/aclImdb_v1.tar.gz', epochs: 1, units: 2, embeddingDim: 2, numThreads: 1, verbose: 0, log: () => {} }
const imdbRun = (option: string, v: unknown) => trainImdb(any({ ...IMDB_BASE, [option]: v }))
const imdbModelOf = (option: string, v: unknown) => imdbModel(any({ numThreads: 1, [option]: v }))
const WORDS_BASE = { corpus: '/nonexistent/corpus.txt', steps: 1, reportEvery: 1, units: 2, numThreads: 1, log: () => {} }
const wordsRun = (option: string, v: unknown) => trainWords(any({ ...WORDS_BASE, [option]: v }))
// Model options are checked once the corpus is read (the vocabulary sizes the model): the bundled passage, one step.
const wordsModelRun = (option: string, v: unknown) => trainWords(any({ ...WORDS_BASE, corpus: undefined, [option]: v }))
const wordModelOf = (option: string, v: unknown) => wordModel(10, any({ numThreads: 1, [option]: v }))
const LOAD_BASE = { path: '/nonexistent/aclImdb' }
const load = (option: string, v: unknown) => datasets.imdb.load(any({ ...LOAD_BASE, [option]: v }))

/** The model options imdbModel and trainImdb share, all INVALID_CONFIG. */
function imdbModelRows(fn: string, call: (option: string, v: unknown) => unknown): Row[] {
  return [
    ...rows(fn, call, 'units', COUNTS, 'INVALID_CONFIG'),
    ...rows(fn, call, 'embeddingDim', COUNTS, 'INVALID_CONFIG', /outputDim/),
    ...rows(fn, call, 'seed', SEEDS, 'INVALID_CONFIG'),
    ...rows(fn, call, 'numThreads', THREADS, 'INVALID_CONFIG'),
    ...rows(fn, call, 'pooling', [null, 'min', 5], 'INVALID_CONFIG'),
    ...rows(fn, call, 'cell', [null, 'cnn', 5, 10n], 'INVALID_CONFIG'),
    ...rows(fn, call, 'conv', [null, 5, 'conv', []], 'INVALID_CONFIG'),
    ...rows(
      fn,
      call,
      'conv',
      [{ filters: 0, kernelSize: 3 }, { filters: 4 }, { filters: 4, kernelSize: 1.5 }, { filters: 4, kernelSize: 3, poolSize: 0 }, { filters: 4, kernelSize: 3, poolSize: null }],
      'INVALID_CONFIG',
      /filters|kernelSize|poolSize/,
    ),
    ...rows(fn, call, 'dropout', [null, Number.NaN, 1.5, -0.1, '0.2'], 'INVALID_CONFIG', /rate|dropout/i),
    ...rows(fn, call, 'bidirectional', BOOLS, 'INVALID_CONFIG'),
    ...rows(fn, call, 'maskZero', BOOLS, 'INVALID_CONFIG'),
  ]
}

const REFUSED: Row[] = [
  // trainImdb: its own options, then the model's; all before the (missing) data is read
  ['trainImdb(5)', () => trainImdb(any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['trainImdb([])', () => trainImdb(any([])), 'INVALID_ARGUMENT', /options must be an object/],
  ...rows('trainImdb', imdbRun, 'epochs', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'batchSize', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'numWords', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'maxlen', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'earlyStopping', COUNTS_FROM_0, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'validationSplit', [null, Number.NaN, -0.1, 1, '0.1'], 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'lrDecay', [null, Number.NaN, 0, 1.5, '0.5'], 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'verbose', [null, 2, true, '1'], 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'shuffle', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'download', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'data', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'url', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'log', FUNCTIONS, 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'save', [null, 5, '', 10n], 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'plot', [null, 5, 'history.png'], 'INVALID_ARGUMENT'),
  ...rows('trainImdb', imdbRun, 'learningRate', RATES, 'INVALID_CONFIG'),
  ...rows('trainImdb', imdbRun, 'clipnorm', RATES, 'INVALID_CONFIG'),
  ...imdbModelRows('trainImdb', imdbRun),
  // imdbModel
  ['imdbModel(5)', () => imdbModel(any(5)), 'INVALID_CONFIG', /options must be an object/],
  ...rows('imdbModel', imdbModelOf, 'numWords', COUNTS, 'INVALID_CONFIG', /inputDim/),
  ...imdbModelRows('imdbModel', imdbModelOf),
  // predictReview, reviewWords
  ...[null, undefined, 5, {}].map((v): Row => [`predictReview(model: ${label(v)})`, () => predictReview(any(v), 'great'), 'INVALID_ARGUMENT', /model must be a Sequential/]),
  ...[null, undefined, 5, ['great']].map((v): Row => [`predictReview(review: ${label(v)})`, () => predictReview(tokenModel(), any(v)), 'INVALID_ARGUMENT', /review must be a string/]),
  ['predictReview of a model without a word index', () => predictReview(tokenModel(), 'great'), 'INVALID_ARGUMENT', /no word index/],
  ...[null, undefined, 5, ['great']].map((v): Row => [`reviewWords(${label(v)})`, () => reviewWords(any(v)), 'INVALID_ARGUMENT', /text must be a string/]),
  // wordModel
  ...[null, undefined, Number.NaN, 0, 1.5, '5', 2 ** 31].map((v): Row => [`wordModel(${label(v)})`, () => wordModel(any(v)), 'INVALID_CONFIG', /vocabularySize/]),
  ['wordModel(10, 5)', () => wordModel(10, any(5)), 'INVALID_CONFIG', /options must be an object/],
  ...rows('wordModel', wordModelOf, 'units', COUNTS, 'INVALID_CONFIG'),
  ...rows('wordModel', wordModelOf, 'contextLength', COUNTS, 'INVALID_CONFIG'),
  ...rows('wordModel', wordModelOf, 'embedding', BOOLS, 'INVALID_CONFIG'),
  ...rows('wordModel', wordModelOf, 'seed', SEEDS, 'INVALID_CONFIG'),
  ...rows('wordModel', wordModelOf, 'numThreads', THREADS, 'INVALID_CONFIG'),
  ...rows('wordModel', (o, v) => wordModel(10, any({ numThreads: 1, embedding: true, [o]: v })), 'embeddingDim', COUNTS, 'INVALID_CONFIG', /outputDim/),
  // cosineDecay
  ...[null, undefined, Number.NaN, Number.POSITIVE_INFINITY, '0.1'].map((v): Row => [`cosineDecay(${label(v)}, 0.5)`, () => cosineDecay(any(v), 0.5), 'INVALID_ARGUMENT', /lr0/]),
  ...[null, undefined, Number.NaN, '0.5'].map((v): Row => [`cosineDecay(0.1, ${label(v)})`, () => cosineDecay(0.1, any(v)), 'INVALID_ARGUMENT', /progress/]),
  // trainWords: its own options before the (missing) corpus is read, then the model's
  ['trainWords(5)', () => trainWords(any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ...rows('trainWords', wordsRun, 'steps', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'contextLength', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'reportEvery', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', (o, v) => trainWords(any({ ...WORDS_BASE, embedding: true, [o]: v })), 'batchSize', COUNTS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'embedding', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'learningRateDecay', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'corpus', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'log', FUNCTIONS, 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'save', [null, 5, ''], 'INVALID_ARGUMENT'),
  ...rows('trainWords', wordsRun, 'seed', SEEDS, 'INVALID_CONFIG'),
  ...rows('trainWords', wordsModelRun, 'units', COUNTS, 'INVALID_CONFIG'),
  ...rows('trainWords', wordsModelRun, 'numThreads', THREADS, 'INVALID_CONFIG'),
  ...rows('trainWords', wordsModelRun, 'learningRate', RATES, 'INVALID_CONFIG'),
  ...rows('trainWords', (o, v) => trainWords(any({ ...WORDS_BASE, corpus: undefined, embedding: true, [o]: v })), 'embeddingDim', COUNTS, 'INVALID_CONFIG', /outputDim/),
  ['trainWords corpus missing', () => trainWords(any(WORDS_BASE)), 'IO', /cannot read \/nonexistent\/corpus.txt/],
  // datasets.imdb.load and readArchiveReviews
  ['imdb.load(5)', () => datasets.imdb.load(any(5)), 'INVALID_ARGUMENT', /options must be an object/],
  ['imdb.load("aclImdb")', () => datasets.imdb.load(any('aclImdb')), 'INVALID_ARGUMENT', /options must be an object/],
  ...rows('imdb.load', (o, v) => datasets.imdb.load(any({ [o]: v })), 'path', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'sample', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'download', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'cache', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'shuffle', BOOLS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'url', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'cacheDir', STRINGS, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'numWords', [Number.NaN, 0, 1.5, '5', 10n, 2 ** 31, Object.create(null)], 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'skipTop', COUNTS_FROM_0, 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'maxlen', [Number.NaN, 0, 1.5, '5', 2 ** 31], 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'seed', [null, Number.NaN, -1, 1.5, 2 ** 32, '113'], 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'startChar', [Number.NaN, -1, 1.5, '1', 2 ** 31], 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'oovChar', [Number.NaN, -1, 1.5, '2', 2 ** 31], 'INVALID_ARGUMENT'),
  ...rows('imdb.load', load, 'indexFrom', COUNTS_FROM_0, 'INVALID_ARGUMENT'),
  ['imdb.load of a missing path', () => load('path', LOAD_BASE.path), 'IO', /aclImdb/],
  ...[null, 5, {}].map((v): Row => [`readArchiveReviews(${label(v)}, f)`, () => datasets.imdb.readArchiveReviews(any(v), () => {}), 'INVALID_ARGUMENT', /archive must be a file path/]),
  ...[null, 5, 'f'].map((v): Row => [`readArchiveReviews(path, ${label(v)})`, () => datasets.imdb.readArchiveReviews('/nonexistent.tar.gz', any(v)), 'INVALID_ARGUMENT', /onReview must be a function/]),
]

describe('the tasks and the dataset loader refuse bad options with a coded LstmError', () => {
  it.each(REFUSED)('%s', async (_, f, code, message) => {
    const err = await failure(f)
    expect(err, 'expected a failure').toBeInstanceOf(LstmError)
    expect((err as LstmError).code, (err as Error).message).toBe(code)
    expect((err as Error).message).toMatch(message)
  })
})

describe('null as a whole options argument means no options, here too', () => {
  it('imdbModel(null) and wordModel(n, null) build the default models', () => {
    expect(imdbModel(null)).toBeInstanceOf(Sequential)
    expect(wordModel(10, null)).toBeInstanceOf(Sequential)
  })
})
