/**
 * `Sequential`: the Keras-shaped face of the Rust core. Data crosses into native code once per call (copied, so
 * the caller may reuse its buffers); training runs on the model's own thread, and the JS event loop stays free.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { availableParallelism } from 'node:os'
import { LstmError } from './errors.js'
import { type Callback, type FitParams, History, type Logs, ProgressBar } from './callbacks.js'
import type { LayerSpec } from './layers.js'
import { call, callAsync, native, type NativeModel } from './native/index.js'
import { isTensor, type Tensor, type TensorLike, tensor } from './tensor.js'

/** Options of `new Sequential(layers, options)`. */
export interface SequentialOptions {
  /** Seeds the initializers, the dropout masks and the shuffling. Default 0. */
  seed?: number
  /** Threads for this model's compute. Default: one per core. */
  numThreads?: number
  /** Shown by `summary()`. Default `'sequential'`. */
  name?: string
}

/** The losses, by their camelCase or Keras snake_case names; `mse` is `meanSquaredError`. */
export type LossName =
  | 'binaryCrossentropy'
  | 'sparseCategoricalCrossentropy'
  | 'categoricalCrossentropy'
  | 'meanSquaredError'
  | 'mse'
  | 'binary_crossentropy'
  | 'sparse_categorical_crossentropy'
  | 'categorical_crossentropy'
  | 'mean_squared_error'
/**
 * A loss by name, or as `{ type, fromLogits }`: with `fromLogits: true` the model's outputs are taken as logits
 * (no sigmoid or softmax on the last layer), which is the numerically stable form.
 */
export type Loss =
  | LossName
  | {
      /** The loss. */
      type: LossName
      /** The outputs are logits rather than probabilities. Default false. */
      fromLogits?: boolean
    }

interface ClipOptions {
  /** Clip each gradient tensor to this L2 norm. */
  clipnorm?: number
  /** Clip each gradient element to [-clipvalue, clipvalue]. */
  clipvalue?: number
}
/** Defaults: learningRate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7 (placed as PyTorch: p -= lr·m̂/(√v̂ + ε)). */
export interface AdamOptions extends ClipOptions {
  /** Adam. */
  type: 'adam'
  /** Step size. Default 0.001. */
  learningRate?: number
  /** Decay of the first-moment (mean) estimate. Default 0.9. */
  beta1?: number
  /** Decay of the second-moment (uncentred variance) estimate. Default 0.999. */
  beta2?: number
  /** Added to the denominator's square root. Default 1e-7. */
  epsilon?: number
}
/** Defaults: learningRate 0.001, rho 0.9, epsilon 1e-7, momentum 0. */
export interface RmspropOptions extends ClipOptions {
  /** RMSProp. */
  type: 'rmsprop'
  /** Step size. Default 0.001. */
  learningRate?: number
  /** Decay of the running mean of squared gradients. Default 0.9. */
  rho?: number
  /** Added to the denominator's square root. Default 1e-7. */
  epsilon?: number
  /** Momentum of the update. Default 0. */
  momentum?: number
}
/** Defaults: learningRate 0.01, momentum 0, nesterov false. */
export interface SgdOptions extends ClipOptions {
  /** Stochastic gradient descent. */
  type: 'sgd'
  /** Step size. Default 0.01. */
  learningRate?: number
  /** Momentum. Default 0. */
  momentum?: number
  /** Nesterov momentum. Default false. */
  nesterov?: boolean
}
/** An optimizer by name (with its defaults), or with options. */
export type Optimizer = 'adam' | 'rmsprop' | 'sgd' | AdamOptions | RmspropOptions | SgdOptions

/** Options of {@link Sequential.compile}. */
export interface CompileOptions {
  /** The loss to minimise. */
  loss: Loss
  /** Default `'adam'`. */
  optimizer?: Optimizer
  /** `['accuracy']` (or `'acc'`) adds accuracy to the logs. Default none. */
  metrics?: string[]
}

/**
 * What `fit` uses of an `AbortSignal` (an `AbortController`'s `signal` is one), spelled out here so that the
 * package's types need neither Node's nor the DOM's declarations.
 */
export interface AbortSignalLike {
  /** Set once the operation is aborted. */
  readonly aborted: boolean
  /** Registers the abort listener. */
  addEventListener(type: 'abort', listener: () => void): void
  /** Removes the abort listener. */
  removeEventListener(type: 'abort', listener: () => void): void
}

/** Options of {@link Sequential.fit}. */
export interface FitOptions {
  /** Default 1. */
  epochs?: number
  /** Default 32. */
  batchSize?: number
  /** Fraction of the samples (the last ones, before shuffling, as Keras) kept for validation. Default 0. */
  validationSplit?: number
  /** `[x, y]` evaluated after each epoch (as `val_loss`, `val_accuracy`); takes the place of `validationSplit`. */
  validationData?: [TensorLike, TensorLike]
  /** Shuffle the training samples before each epoch. Default true. */
  shuffle?: boolean
  /** 0 silent, 1 progress bar. Default 1. */
  verbose?: 0 | 1
  /** Hooks called during training; see {@link callbacks}. */
  callbacks?: Callback[]
  /** Stops training between batches; `fit` then rejects with an `AbortError` (code `ABORTED`). */
  signal?: AbortSignalLike
  /** Epoch to start counting from (when resuming). Default 0. */
  initialEpoch?: number
}

/** Options of {@link Sequential.evaluate}. */
export interface EvaluateOptions {
  /** Default 32. */
  batchSize?: number
}

/** Options of {@link Sequential.predict}. */
export type PredictOptions = EvaluateOptions

/** Options of {@link Sequential.save}. */
export interface SaveOptions {
  /** Also save the optimizer state, to resume training. Default true (as Keras). */
  includeOptimizer?: boolean
}

/** What {@link Sequential.evaluate} and {@link Sequential.trainOnBatch} resolve to. */
export interface EvaluateResult {
  /** The mean loss. */
  loss: number
  /** The accuracy, when the model was compiled with `metrics: ['accuracy']`. */
  accuracy?: number
}

/** A weights dictionary: PyTorch names (`'2.weight_ih'`) and layouts. */
export type Weights = Record<string, Tensor>

const KERAS_CLASS: Record<LayerSpec['type'], string> = {
  embedding: 'Embedding',
  lstm: 'LSTM',
  gru: 'GRU',
  simpleRnn: 'SimpleRNN',
  conv1d: 'Conv1D',
  maxPooling1d: 'MaxPooling1D',
  dense: 'Dense',
  dropout: 'Dropout',
  globalAveragePooling1d: 'GlobalAveragePooling1D',
  globalMaxPooling1d: 'GlobalMaxPooling1D',
}

/** nested number arrays → a flat typed array and its shape (rectangular only). */
function fromNested(v: unknown[], int: boolean, what: string): Tensor {
  const shape: number[] = []
  for (let level: unknown = v; Array.isArray(level); level = level[0]) shape.push(level.length)
  const size = shape.reduce((a, b) => a * b, 1)
  const out = int ? new Int32Array(size) : new Float32Array(size)
  let k = 0
  const walk = (node: unknown, depth: number, index: number[]): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number') throw new LstmError('INVALID_ARGUMENT', `${what}[${index.join(', ')}] is ${String(node)}, not a number`)
      if (int && !Number.isInteger(node)) {
        if (!Number.isFinite(node)) throw new LstmError('NON_FINITE', `non-finite value ${node} in ${what} at ${what}[${index.join(', ')}]`)
        throw new LstmError('INVALID_ARGUMENT', `token ids must be integers, got ${node} at ${what}[${index.join(', ')}]`)
      }
      // An Int32Array would wrap larger ids around silently; report them as the core does.
      if (int && (node < 0 || node > 2 ** 31 - 1)) {
        throw new LstmError('INDEX_OUT_OF_RANGE', `index ${node} out of range at ${what}[${index.join(', ')}]: token ids must be in [0, inputDim)`)
      }
      out[k++] = node
      return
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new LstmError('SHAPE_MISMATCH', `${what} is ragged: ${what}[${index.join(', ')}] should have ${shape[depth]} elements`)
    }
    node.forEach((child, i) => walk(child, depth + 1, [...index, i]))
  }
  walk(v, 0, [])
  return tensor(out, shape)
}

function checkTokens(t: Tensor, what: string): void {
  if (t.dtype === 'float32') {
    throw new LstmError('INVALID_ARGUMENT', `an embedding takes int32 token ids, but ${what} is a float32 tensor; pass an Int32Array (tensor(new Int32Array(...), shape))`)
  }
}

/** First `n` rows of a tensor, or the rows from `n` on, as views (no copy). */
function rows(t: Tensor, from: number, to: number): Tensor {
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1)
  return tensor(t.data.subarray(from * rowLen, to * rowLen), [to - from, ...t.shape.slice(1)])
}

function checkPositiveInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new LstmError('INVALID_ARGUMENT', `${name} must be an integer ≥ ${min}, got ${String(v)}`)
  }
  return v
}

function abortError(): LstmError {
  return new LstmError('ABORTED', 'fit was aborted by its AbortSignal; the model keeps the weights of the last finished batch')
}

/**
 * The model whose fit callback is running in the current async context. A counter alone (`hookDepth`) cannot tell
 * a call made by an (async, paused) callback from a call made elsewhere meanwhile; the async context can.
 */
const callbackOf = new AsyncLocalStorage<Sequential>()

/** A linear stack of layers, trained and run by the Rust core. */
export class Sequential {
  /** Set from a callback to end `fit` after the current batch. */
  stopTraining = false
  /** Anything JSON-serialisable saved with the model (a vocabulary, say) and restored by `Sequential.load`. */
  metadata: Record<string, unknown> = {}
  /** The model's name, shown by `summary()`. */
  readonly name: string
  private readonly nativeModel: NativeModel
  private specs: LayerSpec[]
  private compiled?: { loss: Loss; optimizer: Optimizer; metrics: string[] }
  private training = false
  private hookDepth = 0

  constructor(layers: LayerSpec[], options: SequentialOptions = {}) {
    if (!Array.isArray(layers) || layers.length === 0) throw new LstmError('INVALID_CONFIG', 'Sequential needs a non-empty array of layers')
    for (const [i, l] of layers.entries()) {
      if (typeof l !== 'object' || l === null || !Object.hasOwn(KERAS_CLASS, (l as LayerSpec).type)) {
        throw new LstmError('INVALID_CONFIG', `layer ${i} is not a layer (make layers with layers.lstm({...}) etc.), got ${JSON.stringify(l)}`)
      }
    }
    const seed = options.seed ?? 0
    if (!Number.isInteger(seed) || seed < 0) throw new LstmError('INVALID_CONFIG', `seed must be a non-negative integer, got ${seed}`)
    const numThreads = options.numThreads ?? availableParallelism()
    if (!Number.isInteger(numThreads) || numThreads < 1 || numThreads > 256) throw new LstmError('INVALID_CONFIG', `numThreads must be an integer in [1, 256], got ${numThreads}`)
    this.name = options.name ?? 'sequential'
    this.specs = layers.map((l) => ({ ...l }))
    this.nativeModel = call(() => new (native().NativeModel)(JSON.stringify({ layers: this.specs, seed }), numThreads))
  }

  /** The layer descriptions this model was built from. */
  get layers(): readonly LayerSpec[] {
    return this.specs
  }

  private get firstIsEmbedding(): boolean {
    return this.specs[0].type === 'embedding'
  }

  /** Throws MODEL_BUSY for a call made while `fit` runs, unless it comes from one of fit's callbacks. */
  private assertIdle(what: string): void {
    // A callback being paused at an await is not enough: the call must come from that callback's async context,
    // or any outside call made meanwhile would slip through.
    if (this.training && !(this.hookDepth > 0 && callbackOf.getStore() === this)) {
      throw new LstmError('MODEL_BUSY', `${what}() was called while the model is training; wait for fit() to finish, or call it from a callback`)
    }
  }

  /** x as a tensor of the dtype the first layer takes. */
  private toInput(x: TensorLike, what = 'x'): Tensor {
    const t = isTensor(x) ? x : Array.isArray(x) ? fromNested(x, this.firstIsEmbedding, what) : undefined
    if (!t) throw new LstmError('INVALID_ARGUMENT', `${what} must be a Tensor or nested number arrays, got ${Object.prototype.toString.call(x)}`)
    if (this.firstIsEmbedding) checkTokens(t, what)
    return t
  }

  private toTarget(y: TensorLike, what = 'y'): Tensor {
    const t = isTensor(y) ? y : Array.isArray(y) ? fromNested(y, false, what) : undefined
    if (!t) throw new LstmError('INVALID_ARGUMENT', `${what} must be a Tensor or nested number arrays, got ${Object.prototype.toString.call(y)}`)
    return t
  }

  /** x and y as tensors with the same number of samples. */
  private toPair(x: TensorLike, y: TensorLike): [Tensor, Tensor] {
    const xt = this.toInput(x)
    const yt = this.toTarget(y)
    if (xt.shape[0] !== yt.shape[0]) throw new LstmError('SHAPE_MISMATCH', `x has ${xt.shape[0]} samples but y has ${yt.shape[0]}`)
    return [xt, yt]
  }

  /** Sets the loss, optimizer and metrics; resets the optimizer state. */
  compile(options: CompileOptions): void {
    this.assertIdle('compile')
    if (typeof options !== 'object' || options === null) throw new LstmError('INVALID_CONFIG', 'compile() needs an options object with a loss')
    const { loss, optimizer = 'adam', metrics = [] } = options
    if (loss === undefined) throw new LstmError('INVALID_CONFIG', 'compile(): loss is required')
    if (!Array.isArray(metrics)) throw new LstmError('INVALID_CONFIG', `compile(): metrics must be an array, got ${String(metrics)}`)
    for (const m of metrics) {
      if (m !== 'accuracy' && m !== 'acc') throw new LstmError('INVALID_CONFIG', `compile(): unknown metric ${JSON.stringify(m)}; supported: 'accuracy'`)
    }
    if (typeof optimizer === 'object' && optimizer !== null) {
      // JSON would turn NaN and Infinity into null, which the core reads as "use the default".
      for (const [k, v] of Object.entries(optimizer)) {
        if (typeof v === 'number' && !Number.isFinite(v)) throw new LstmError('INVALID_CONFIG', `compile(): optimizer ${k} must be a finite number, got ${v}`)
      }
    }
    call(() => this.nativeModel.compile(JSON.stringify(loss), JSON.stringify(optimizer)))
    this.compiled = { loss, optimizer, metrics: metrics.map(() => 'accuracy') }
  }

  private requireCompiled(what: string): { metrics: string[] } {
    if (!this.compiled) throw new LstmError('INVALID_CONFIG', `${what}() before compile(): call model.compile({ loss, optimizer }) first`)
    return this.compiled
  }

  private logsOf(loss: number, accuracy: number, prefix = ''): Logs {
    const logs: Logs = { [`${prefix}loss`]: loss }
    if (this.compiled?.metrics.includes('accuracy')) logs[`${prefix}accuracy`] = accuracy
    return logs
  }

  private async runHooks(callbacks: Callback[], hook: 'onTrainBegin' | 'onTrainEnd', logs?: Logs): Promise<void>
  private async runHooks(callbacks: Callback[], hook: 'onEpochBegin' | 'onEpochEnd' | 'onBatchEnd', index: number, logs?: Logs): Promise<void>
  private async runHooks(callbacks: Callback[], hook: keyof Callback, a?: number | Logs, b?: Logs): Promise<void> {
    this.hookDepth++
    try {
      for (const cb of callbacks) {
        const f = cb[hook] as ((...args: unknown[]) => void | Promise<void>) | undefined
        if (typeof f === 'function') await callbackOf.run(this, () => f.call(cb, a, b))
      }
    } finally {
      this.hookDepth--
    }
  }

  /**
   * Trains for `epochs` epochs (Keras's `fit`). Resolves to the History; rejects with `ABORTED` when `signal`
   * aborts, and with the error of the first bad input it meets.
   */
  async fit(x: TensorLike, y: TensorLike, options: FitOptions = {}): Promise<History> {
    // The busy flag is set before the first await, so a call right after fit() sees it.
    // Refused even from a callback: a nested fit would reset stopTraining and clear the busy flag in its `finally`
    // while the outer fit is still training.
    if (this.training) {
      throw new LstmError('MODEL_BUSY', 'fit() was called while the model is training (from a callback too); wait for the running fit() to finish')
    }
    this.training = true
    this.stopTraining = false
    const datasets: number[] = []
    try {
      const compiled = this.requireCompiled('fit')
      const { epochs = 1, batchSize = 32, validationSplit = 0, shuffle = true, verbose = 1, signal, initialEpoch = 0 } = options
      checkPositiveInt('epochs', epochs, 0)
      checkPositiveInt('batchSize', batchSize)
      checkPositiveInt('initialEpoch', initialEpoch, 0)
      if (typeof validationSplit !== 'number' || !(validationSplit >= 0 && validationSplit < 1)) {
        throw new LstmError('INVALID_ARGUMENT', `validationSplit must be in [0, 1), got ${String(validationSplit)}`)
      }
      if (signal?.aborted) throw abortError()
      let [xt, yt] = this.toPair(x, y)
      if (xt.shape.length === 0 || xt.shape[0] === 0) throw new LstmError('INVALID_ARGUMENT', `empty dataset: x has shape [${xt.shape.join(', ')}]`)
      let val: [Tensor, Tensor] | undefined
      if (options.validationData !== undefined) {
        if (!Array.isArray(options.validationData) || options.validationData.length !== 2) {
          throw new LstmError('INVALID_ARGUMENT', `validationData must be a pair [x, y], got ${Array.isArray(options.validationData) ? `an array of ${options.validationData.length}` : String(options.validationData)}`)
        }
        const [xv, yv] = options.validationData
        val = [this.toInput(xv, 'validationData x'), this.toTarget(yv, 'validationData y')]
      } else if (validationSplit > 0) {
        const n = xt.shape[0]
        const split = Math.floor(n * (1 - validationSplit))
        if (split === 0 || split === n) throw new LstmError('INVALID_ARGUMENT', `validationSplit ${validationSplit} of ${n} samples leaves an empty training or validation set`)
        val = [rows(xt, split, n), rows(yt, split, n)]
        xt = rows(xt, 0, split)
        yt = rows(yt, 0, split)
      }
      const trainId = await callAsync(() => this.nativeModel.addDataset(xt.data, [...xt.shape], yt.data, [...yt.shape]))
      datasets.push(trainId)
      const valId = val ? await callAsync(() => this.nativeModel.addDataset(val[0].data, [...val[0].shape], val[1].data, [...val[1].shape])) : undefined
      if (valId !== undefined) datasets.push(valId)

      const n = xt.shape[0]
      const steps = Math.ceil(n / batchSize)
      const callbacks = [...(options.callbacks ?? [])]
      if (verbose === 1 && !callbacks.some((c) => c instanceof ProgressBar)) callbacks.unshift(new ProgressBar())
      const params: FitParams = { epochs, steps, samples: n, batchSize, verbose }
      for (const cb of callbacks) {
        cb.setModel?.(this)
        cb.setParams?.(params)
      }
      // Observers (the progress bar) hear of batches as they finish; other batch hooks pause training for each batch.
      const pausingBatchHooks = callbacks.some((c) => typeof c.onBatchEnd === 'function' && !c.observesBatchesOnly)
      const observers = callbacks.filter((c) => typeof c.onBatchEnd === 'function' && c.observesBatchesOnly)
      const history = new History()
      const onAbort = () => this.nativeModel.requestStop()
      signal?.addEventListener('abort', onAbort)
      try {
        await this.runHooks(callbacks, 'onTrainBegin')
        for (let epoch = initialEpoch; epoch < epochs && !this.stopTraining; epoch++) {
          await this.runHooks(callbacks, 'onEpochBegin', epoch)
          const order = shuffle ? call(() => this.nativeModel.epochOrder(n, epoch)) : Uint32Array.from({ length: n }, (_, i) => i)
          let lossSum = 0
          let accSum = 0
          let seen = 0
          const batchLogs = (batch: number, loss: number, acc: number): Logs => {
            const size = Math.min(batchSize, n - batch * batchSize)
            lossSum += loss * size
            accSum += acc * size
            seen += size
            return this.logsOf(lossSum / seen, accSum / seen)
          }
          for (let batch = 0; batch < steps && !this.stopTraining; ) {
            if (signal?.aborted) throw abortError()
            const count = pausingBatchHooks ? 1 : steps - batch
            const first = batch
            const onBatch = observers.length
              ? (p: { batch: number; loss: number; accuracy: number }) => {
                  // Runs on the JS thread from a weak threadsafe function; an observer must never throw into native code.
                  try {
                    const logs = this.logsOf(p.loss, p.accuracy)
                    const running = this.previewLogs(lossSum, accSum, seen, first + p.batch, batchSize, n, logs)
                    for (const o of observers) void o.onBatchEnd?.(first + p.batch, running)
                  } catch {
                    /* a display error must not stop training */
                  }
                }
              : undefined
            const results = await callAsync(() => this.nativeModel.trainBatches(trainId, order, batchSize, first, count, onBatch))
            for (let k = 0; k < results.length / 2; k++) {
              const logs = batchLogs(batch, results[2 * k], results[2 * k + 1])
              if (pausingBatchHooks) await this.runHooks(callbacks.filter((c) => !c.observesBatchesOnly), 'onBatchEnd', batch, logs)
              batch++
            }
            if (results.length / 2 < count) {
              // The native loop stopped early: an abort.
              if (signal?.aborted) throw abortError()
              break
            }
          }
          if (signal?.aborted) throw abortError()
          const logs = this.logsOf(lossSum / Math.max(seen, 1), accSum / Math.max(seen, 1))
          if (valId !== undefined) {
            const v = await callAsync(() => this.nativeModel.evaluateDataset(valId, batchSize))
            Object.assign(logs, this.logsOf(v.loss, v.accuracy, 'val_'))
          }
          await this.runHooks(callbacks, 'onEpochEnd', epoch, logs)
          history.record(epoch, logs)
        }
        await this.runHooks(callbacks, 'onTrainEnd', history.epoch.length ? Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, v[v.length - 1]])) : {})
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
      void compiled
      return history
    } finally {
      for (const id of datasets) this.nativeModel.removeDataset(id)
      this.training = false
    }
  }

  /** Running means including a batch that the native loop has finished but `fit` has not yet tallied. */
  private previewLogs(lossSum: number, accSum: number, seen: number, batch: number, batchSize: number, n: number, latest: Logs): Logs {
    const size = Math.min(batchSize, n - batch * batchSize)
    const loss = (lossSum + latest.loss * size) / (seen + size)
    const out: Logs = { loss }
    if (latest.accuracy !== undefined) out.accuracy = (accSum + latest.accuracy * size) / (seen + size)
    return out
  }

  /** Mean loss (and accuracy, when compiled with it) over x, y, in inference mode. */
  async evaluate(x: TensorLike, y: TensorLike, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    this.assertIdle('evaluate')
    this.requireCompiled('evaluate')
    const batchSize = checkPositiveInt('batchSize', options.batchSize ?? 32)
    const [xt, yt] = this.toPair(x, y)
    const id = await callAsync(() => this.nativeModel.addDataset(xt.data, [...xt.shape], yt.data, [...yt.shape]))
    try {
      const r = await callAsync(() => this.nativeModel.evaluateDataset(id, batchSize))
      return this.logsOf(r.loss, r.accuracy) as unknown as EvaluateResult
    } finally {
      this.nativeModel.removeDataset(id)
    }
  }

  /** Outputs for x, computed on the model's thread. */
  async predict(x: TensorLike, options: PredictOptions = {}): Promise<Tensor> {
    this.assertIdle('predict')
    const batchSize = checkPositiveInt('batchSize', options.batchSize ?? 32)
    const xt = this.toInput(x)
    const out = await callAsync(() => this.nativeModel.predict(xt.data, [...xt.shape], batchSize))
    return tensor(out.data, out.shape)
  }

  /** Like `predict`, on the calling thread: for small inputs where a promise is a nuisance. */
  predictSync(x: TensorLike, options: PredictOptions = {}): Tensor {
    this.assertIdle('predictSync')
    const batchSize = checkPositiveInt('batchSize', options.batchSize ?? 32)
    const xt = this.toInput(x)
    const out = call(() => this.nativeModel.predictSync(xt.data, [...xt.shape], batchSize))
    return tensor(out.data, out.shape)
  }

  /**
   * Stateful inference (Keras's `stateful=True`): runs x, usually one step (`[B, 1]` token ids or `[B, 1, F]`),
   * starting from the LSTM states the previous call left, and keeps the new ones. Generation steps one word at a
   * time this way instead of re-running the whole prefix. `resetStates()` starts over from zeros.
   */
  predictStep(x: TensorLike): Tensor {
    this.assertIdle('predictStep')
    const xt = this.toInput(x)
    const out = call(() => this.nativeModel.predictStep(xt.data, [...xt.shape]))
    return tensor(out.data, out.shape)
  }

  /** The optimizer's learning rate (Keras's `model.optimizer.learning_rate`). */
  getLearningRate(): number {
    this.requireCompiled('getLearningRate')
    return call(() => this.nativeModel.learningRate())
  }

  /**
   * Changes the learning rate and keeps the optimizer's state, for schedules (see `callbacks.learningRateScheduler`).
   * Allowed between `fit` calls and from callbacks, not while a native call runs.
   */
  setLearningRate(learningRate: number): void {
    this.requireCompiled('setLearningRate')
    if (typeof learningRate !== 'number' || !Number.isFinite(learningRate) || learningRate < 0) {
      throw new LstmError('INVALID_ARGUMENT', `setLearningRate: learningRate must be a finite number >= 0, got ${String(learningRate)}`)
    }
    call(() => this.nativeModel.setLearningRate(learningRate))
    if (this.compiled && typeof this.compiled.optimizer === 'object') this.compiled.optimizer = { ...this.compiled.optimizer, learningRate }
  }

  /** Forgets the LSTM states kept by `predictStep`. */
  resetStates(): void {
    this.assertIdle('resetStates')
    call(() => this.nativeModel.resetStates())
  }

  /** One optimizer step on one batch (Keras's `train_on_batch`). */
  async trainOnBatch(x: TensorLike, y: TensorLike): Promise<EvaluateResult> {
    this.assertIdle('trainOnBatch')
    this.requireCompiled('trainOnBatch')
    const [xt, yt] = this.toPair(x, y)
    const id = await callAsync(() => this.nativeModel.addDataset(xt.data, [...xt.shape], yt.data, [...yt.shape]))
    try {
      const order = Uint32Array.from({ length: xt.shape[0] }, (_, i) => i)
      const r = await callAsync(() => this.nativeModel.trainBatches(id, order, xt.shape[0], 0, 1))
      return this.logsOf(r[0], r[1]) as unknown as EvaluateResult
    } finally {
      this.nativeModel.removeDataset(id)
    }
  }

  /** Outputs for one batch (Keras's `predict_on_batch`). */
  async predictOnBatch(x: TensorLike): Promise<Tensor> {
    const xt = this.toInput(x)
    return this.predict(xt, { batchSize: Math.max(1, xt.shape[0]) })
  }

  /** Every weight by its PyTorch name (`'2.weight_ih'`), copied. */
  getWeights(): Weights {
    this.assertIdle('getWeights')
    const out: Weights = {}
    for (const w of call(() => this.nativeModel.getWeights())) out[w.name] = tensor(w.data, w.shape)
    return out
  }

  /** Replaces the named weights (PyTorch names and layouts); checks all before changing any. */
  setWeights(weights: Weights): void {
    this.assertIdle('setWeights')
    if (typeof weights !== 'object' || weights === null) throw new LstmError('INVALID_ARGUMENT', 'setWeights() takes a record of name → Tensor')
    const list = Object.entries(weights).map(([name, t]) => {
      // A value that is not a Tensor (a plain array, undefined) gets a typed error, not a bare TypeError.
      if (!isTensor(t) || !(t.data instanceof Float32Array || t.data instanceof Int32Array)) {
        throw new LstmError('INVALID_ARGUMENT', `setWeights(): weight ${name} must be a Tensor (tensor(new Float32Array(...), shape)), got ${Object.prototype.toString.call(t)}`)
      }
      const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data)
      const size = t.shape.reduce((a, b) => a * b, 1)
      if (size !== data.length) throw new LstmError('SHAPE_MISMATCH', `weight ${name}: data has ${data.length} values but shape [${t.shape.join(', ')}] needs ${size}`)
      return { name, data, shape: [...t.shape] }
    })
    call(() => this.nativeModel.setWeights(list))
  }

  /**
   * A Keras-style table of layers, output shapes and parameter counts; printed and returned. An LSTM's count is that
   * of its weights (PyTorch's layout: two bias vectors per gate) followed by Keras's (one), e.g.
   * `60,800 (Keras: 60,400)`, and the totals likewise.
   */
  summary(print: (line: string) => void = console.log): string {
    this.assertIdle('summary')
    const rowsOut = call(() => this.nativeModel.summary())
    const counts = new Map<string, number>()
    // PyTorch's LSTM layout, which the weights follow, has two bias vectors (b_ih, b_hh) where Keras has one: an
    // LSTM row shows both counts, so the figures match Keras's summary as well as PyTorch's.
    const kerasParams = rowsOut.map((r, i) => {
      const spec = this.specs[i] as { type: string; units?: number; bidirectional?: boolean }
      return spec.type === 'lstm' ? r.params - 4 * (spec.units ?? 0) * (spec.bidirectional ? 2 : 1) : r.params
    })
    const count = (ours: number, keras: number) => `${ours.toLocaleString('en-US')}${keras === ours ? '' : ` (Keras: ${keras.toLocaleString('en-US')})`}`
    const lines: [string, string, string][] = rowsOut.map((r, i) => {
      const kind = this.specs[i].type
      const k = counts.get(kind) ?? 0
      counts.set(kind, k + 1)
      const klass = KERAS_CLASS[kind] + ((kind === 'lstm' || kind === 'gru' || kind === 'simpleRnn') && (this.specs[i] as { bidirectional?: boolean }).bidirectional ? ', bidirectional' : '')
      const shape = `(${r.outputShape.map((d) => (d == null ? 'None' : String(d))).join(', ')})`
      return [`${i}: ${kind}${k ? `_${k}` : ''} (${klass})`, shape, count(r.params, kerasParams[i])]
    })
    const total = count(
      rowsOut.reduce((a, r) => a + r.params, 0),
      kerasParams.reduce((a, n) => a + n, 0),
    )
    const w = [Math.max(28, ...lines.map((l) => l[0].length + 2)), 26, Math.max(12, ...lines.map((l) => l[2].length))]
    const rule = (c: string) => c.repeat(w[0] + w[1] + w[2])
    const row = (a: string, b: string, c: string) => ` ${a.padEnd(w[0] - 1)}${b.padEnd(w[1])}${c}`
    const out = [
      `Model: "${this.name}"`,
      rule('_'),
      row('Layer (type)', 'Output Shape', 'Param #'),
      rule('='),
      ...lines.flatMap((l, i) => [row(...l), ...(i < lines.length - 1 ? [''] : [])]),
      rule('='),
      `Total params: ${total}`,
      `Trainable params: ${total}`,
      'Non-trainable params: 0',
      ...(kerasParams.some((n, i) => n !== rowsOut[i].params) ? ['(Keras: as Keras counts, one LSTM bias per gate; PyTorch has two)'] : []),
      rule('_'),
    ].join('\n')
    print(out)
    return out
  }

  /** Writes the architecture, weights, optional optimizer state and `metadata` to a safetensors file, atomically. */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    this.assertIdle('save')
    const user = JSON.stringify({ metrics: this.compiled?.metrics ?? [], name: this.name, metadata: this.metadata })
    await callAsync(() => this.nativeModel.save(path, options.includeOptimizer ?? true, user))
  }

  /** Writes only the weights (and the architecture they belong to). */
  async saveWeights(path: string): Promise<void> {
    this.assertIdle('saveWeights')
    const user = JSON.stringify({ metrics: this.compiled?.metrics ?? [], name: this.name, metadata: this.metadata })
    await callAsync(() => this.nativeModel.save(path, false, user))
  }

  /** Loads weights saved from a model of the same architecture (else `CORRUPT_WEIGHTS`). */
  async loadWeights(path: string): Promise<void> {
    this.assertIdle('loadWeights')
    await callAsync(() => this.nativeModel.loadWeights(path))
  }

  /** Reads a model written by `save`: architecture, weights, compile settings, optimizer state and metadata. */
  static async load(path: string, options: { numThreads?: number } = {}): Promise<Sequential> {
    const numThreads = options.numThreads ?? availableParallelism()
    const [nativeModel, userJson] = await callAsync(() => native().NativeModel.load(path, numThreads))
    const config = JSON.parse(call(() => nativeModel.configJson())) as { layers: LayerSpec[]; loss?: Loss; optimizer?: Optimizer }
    let user: { metrics?: string[]; name?: string; metadata?: Record<string, unknown> } = {}
    try {
      user = userJson ? JSON.parse(userJson) : {}
    } catch {
      throw new LstmError('CORRUPT_WEIGHTS', `${path}: the user metadata is not JSON`)
    }
    const model = Object.create(Sequential.prototype) as Sequential
    Object.assign(model, {
      stopTraining: false,
      metadata: user.metadata ?? {},
      name: user.name ?? 'sequential',
      nativeModel,
      specs: config.layers,
      compiled: config.loss && config.optimizer ? { loss: config.loss, optimizer: config.optimizer, metrics: user.metrics ?? [] } : undefined,
      training: false,
      hookDepth: 0,
    })
    return model
  }
}
