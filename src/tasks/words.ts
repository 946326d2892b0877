/**
 * The tutorial's first model: three words in, the next word out. A 2-layer LSTM over 3 word ids fed as raw floats,
 * a dense output initialised N(0,1) like the tutorial's `weights['out']`, RMSProp(1e-3), single-sample steps on
 * windows that walk the text by 4 from a random offset. With `embedding`, ids go through an Embedding instead and
 * training runs in batches.
 */
import { availableParallelism } from 'node:os'
import { LstmError } from '../errors.js'
import { seededRandom, type WordModelMetadata } from '../generate.js'
import * as layers from '../layers.js'
import { Sequential } from '../model.js'
import { bundledDataPath, checkOutputPath } from '../paths.js'
import { tensor } from '../tensor.js'
import { buildVocabulary, readWords } from '../text.js'
import { checkBool, checkInt, checkPath, describe, optionsOf } from '../validate.js'

/** Options of {@link trainWords}; the defaults are the article's. */
export interface TrainWordsOptions {
  /** Text of space-separated tokens. Default: the bundled passage (data/meditations-5-20.txt). */
  corpus?: string
  /** Training samples (steps of one sample, or samples across batches with `embedding`). Default 50,000. */
  steps?: number
  /** Units of each LSTM layer. Default 512. */
  units?: number
  /** Words in, before the one predicted. Default 3. */
  contextLength?: number
  /** Seeds the weights and the window offsets. Default 0. */
  seed?: number
  /** Use an Embedding instead of raw float ids, and train in batches. Default false. */
  embedding?: boolean
  /** Batch size with `embedding`. Default 16. */
  batchSize?: number
  /** Embedding size with `embedding`. Default 64. */
  embeddingDim?: number
  /**
   * With `embedding`: lower the learning rate along a cosine from its start to a tenth of it over the run (set before
   * each block of `reportEvery` samples). Default true. Without it, Adam at a constant rate could lose the passage
   * late in the run after a thousand windows at 99% (measured: the final window fell to 80%).
   */
  learningRateDecay?: boolean
  /** Default: RMSProp 0.001 (the tutorial), Adam 0.002 with `embedding`. */
  learningRate?: number
  /** Default: one per core. */
  numThreads?: number
  /** Samples per `Average Accuracy` line. Default 1,000. */
  reportEvery?: number
  /** Where the progress lines go. Default console.log. */
  log?: (line: string) => void
  /** Write the trained model (with its vocabulary) here. */
  save?: string
}

/** One progress report of {@link trainWords}: the means over the last `reportEvery` samples. */
export interface WordsReport {
  /** Samples trained so far. */
  iteration: number
  /** Mean accuracy over the block of samples. */
  accuracy: number
  /** Mean loss over the block of samples. */
  loss: number
  /** Seconds since training started. */
  seconds: number
}

/** What {@link trainWords} resolves to. */
export interface TrainWordsResult {
  /** The trained model, with its vocabulary in `metadata`. */
  model: Sequential
  /** One report per `reportEvery` samples. */
  reports: WordsReport[]
  /** Accuracy over the last `reportEvery` samples. */
  finalAccuracy: number
  /** Training time in seconds. */
  seconds: number
  /** Distinct words of the corpus. */
  vocabularySize: number
  /** Words of the corpus. */
  tokens: number
}

/**
 * The next-word model, exactly as the tutorial (or its Embedding variant). Bad arguments are `INVALID_CONFIG`, as for
 * `new Sequential`.
 */
export function wordModel(
  vocabularySize: number,
  options?: { units?: number; contextLength?: number; embedding?: boolean; embeddingDim?: number; seed?: number; numThreads?: number } | null,
): Sequential {
  checkInt('wordModel(): vocabularySize', vocabularySize, 1, undefined, 'INVALID_CONFIG')
  const { units = 512, contextLength = 3, embedding = false, embeddingDim = 64, seed = 0, numThreads = availableParallelism() } = optionsOf('wordModel()', options, 'INVALID_CONFIG')
  checkBool('wordModel(): embedding', embedding, 'INVALID_CONFIG')
  // A null length would pass as the input's variable time axis.
  checkInt('wordModel(): contextLength', contextLength, 1, undefined, 'INVALID_CONFIG')
  const normal = { type: 'randomNormal', mean: 0, stddev: 1 } as const
  const stack = embedding
    ? [layers.embedding({ inputDim: vocabularySize, outputDim: embeddingDim }), layers.lstm({ units, returnSequences: true }), layers.lstm({ units }), layers.dense({ units: vocabularySize })]
    : [
        layers.lstm({ units, returnSequences: true, inputShape: [contextLength, 1] }),
        layers.lstm({ units }),
        layers.dense({ units: vocabularySize, kernelInitializer: normal, biasInitializer: normal }),
      ]
  return new Sequential(stack, { seed, numThreads, name: embedding ? 'next_word_embedding' : 'next_word' })
}

/** Cosine decay from `lr0` at the start to `lr0 / 10` at the end; `progress` runs from 0 to 1 (clamped). */
export function cosineDecay(lr0: number, progress: number): number {
  for (const [name, v] of [['lr0', lr0], ['progress', progress]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new LstmError('INVALID_ARGUMENT', `cosineDecay: ${name} must be a finite number, got ${describe(v)}`)
  }
  const p = Math.min(Math.max(progress, 0), 1)
  return lr0 * (0.1 + 0.45 * (1 + Math.cos(Math.PI * p)))
}

/**
 * Trains the next-word model and prints `Iteration = 1000, Average Accuracy= 12.34%` every `reportEvery` samples.
 * The run's own options are checked first (`INVALID_ARGUMENT`); the model's (units, seed, ...) `INVALID_CONFIG`.
 */
export async function trainWords(options?: TrainWordsOptions | null): Promise<TrainWordsResult> {
  const o = optionsOf('trainWords()', options)
  const int = (name: keyof TrainWordsOptions, fallback: number) => (o[name] === undefined ? fallback : checkInt(`trainWords(): ${name}`, o[name], 1))
  const corpus = o.corpus === undefined ? bundledDataPath('meditations-5-20.txt') : checkPath('trainWords(): corpus', o.corpus)
  const steps = int('steps', 50_000)
  const n = int('contextLength', 3)
  const reportEvery = int('reportEvery', 1000)
  const embedding = checkBool('trainWords(): embedding', o.embedding) ?? false
  const batchSize = embedding ? int('batchSize', 16) : 1
  const learningRateDecay = checkBool('trainWords(): learningRateDecay', o.learningRateDecay) ?? true
  const log = o.log === undefined ? console.log : o.log
  if (typeof log !== 'function') throw new LstmError('INVALID_ARGUMENT', `trainWords(): log must be a function, got ${describe(log)}`)
  const seed = o.seed === undefined ? 0 : checkInt('trainWords(): seed', o.seed, 0, Number.MAX_SAFE_INTEGER, 'INVALID_CONFIG')
  // The output path first: a typo must fail now, not after the whole run.
  if (o.save !== undefined) checkOutputPath(o.save, 'save')
  const words = readWords(corpus)
  const { dictionary, reverseDictionary } = buildVocabulary(words)
  if (words.length < n + 2) throw new LstmError('INVALID_ARGUMENT', `${corpus} has ${words.length} tokens; the model needs at least ${n + 2}`)
  const ids = words.map((w) => dictionary.get(w) as number)
  const V = reverseDictionary.length

  const model = wordModel(V, { units: o.units, contextLength: n, embedding, embeddingDim: o.embeddingDim, seed, numThreads: o.numThreads })
  model.compile({
    loss: { type: 'sparseCategoricalCrossentropy', fromLogits: true },
    optimizer: embedding
      ? { type: 'adam', learningRate: o.learningRate === undefined ? 0.002 : o.learningRate }
      : { type: 'rmsprop', learningRate: o.learningRate === undefined ? 0.001 : o.learningRate, rho: 0.9, epsilon: 1e-10 },
    metrics: ['accuracy'],
  })
  const lr0 = model.getLearningRate()
  const decay = embedding && learningRateDecay
  const metadata: WordModelMetadata = { task: 'words', vocabulary: reverseDictionary, input: embedding ? 'embedding' : 'float', training: 'windows', contextLength: n }
  model.metadata = { ...metadata }

  // The tutorial's walk: start at a random offset in [0, n+1], take n words and the next, move on by n+1,
  // and restart at a random offset at the end of the text.
  const random = seededRandom(seed + 1)
  const randomOffset = () => Math.floor(random() * (n + 2))
  let offset = randomOffset()
  const reports: WordsReport[] = []
  const start = performance.now()
  for (let done = 0; done < steps; ) {
    const k = Math.min(reportEvery, steps - done)
    const x = embedding ? new Int32Array(k * n) : new Float32Array(k * n)
    const y = new Int32Array(k)
    for (let s = 0; s < k; s++) {
      if (offset > ids.length - n - 1) offset = randomOffset()
      for (let j = 0; j < n; j++) x[s * n + j] = ids[offset + j]
      y[s] = ids[offset + n]
      offset += n + 1
    }
    if (decay) model.setLearningRate(cosineDecay(lr0, done / steps))
    const history = await model.fit(tensor(x, embedding ? [k, n] : [k, n, 1]), tensor(y, [k]), { epochs: 1, batchSize, shuffle: false, verbose: 0 })
    done += k
    const accuracy = history.history.accuracy[0]
    const loss = history.history.loss[0]
    const seconds = (performance.now() - start) / 1000
    reports.push({ iteration: done, accuracy, loss, seconds })
    log(`Iteration = ${done}, Average Accuracy= ${(accuracy * 100).toFixed(2)}%, Average Loss= ${loss.toFixed(6)} (${seconds.toFixed(1)} s)`)
  }
  const seconds = (performance.now() - start) / 1000
  if (o.save) await model.save(o.save)
  return { model, reports, finalAccuracy: reports[reports.length - 1].accuracy, seconds, vocabularySize: V, tokens: ids.length }
}
