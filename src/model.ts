/**
 * `Sequential`: the Keras-shaped face of the Rust core. Data crosses into native code once per call (copied, so
 * the caller may reuse its buffers); training runs on the model's own thread, and the JS event loop stays free.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { availableParallelism } from 'node:os'
import { LstmError } from './errors.js'
import { type Callback, type FitParams, History, type Logs, ProgressBar } from './callbacks.js'
import * as layerFactories from './layers.js'
import type { LayerSpec } from './layers.js'
import { KERAS_CLASS } from './keras-classes.js'
import type { KerasModel } from './keras.js'
import { Batcher, type BatchingOptions, batchingOptions } from './batching.js'
import { call, callAsync, native, type NativeModel } from './native/index.js'
import { checkedTensor, fromNested, isTensor, type Tensor, type TensorLike, tensor } from './tensor.js'
import { checkBool, checkInt, checkPath, describe, MAX_THREADS, optionsOf, toJson } from './validate.js'

/** Options of `new Sequential(layers, options)`. */
export interface SequentialOptions {
  /** Seeds the initializers, the dropout masks and the shuffling. Default 0. */
  seed?: number
  /**
   * The most compute threads this model's work uses. Default: one per core. Models share the process's compute
   * threads (a thousand models do not make a thousand pools), so this is a cap, not a count of threads started;
   * with `dedicatedPool` it is the size of the model's own pool.
   */
  numThreads?: number
  /** Run on a pool of threads of the model's own instead of the shared ones, for isolation. Default false. */
  dedicatedPool?: boolean
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

/** Options of {@link Sequential.fromKeras}. */
export interface FromKerasOptions {
  /** Seeds the dropout masks and the shuffling of later training. Default 0. */
  seed?: number
  /** Threads for this model's compute. Default: one per core. */
  numThreads?: number
  /**
   * Read the file's compile configuration (loss, optimizer and its hyper-parameters, accuracy metric). Default true;
   * false skips it, as Keras's `load_model(compile=False)`, for a file whose optimizer or loss lstm-native lacks.
   */
  compile?: boolean
}

/** A weights dictionary: PyTorch names (`'2.weight_ih'`) and layouts. */
export type Weights = Record<string, Tensor>

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

/** The options each optimizer takes besides `type`, by its name as the core normalises it. */
const OPTIMIZER_KEYS: Record<string, readonly string[]> = {
  adam: ['learningRate', 'beta1', 'beta2', 'epsilon', 'clipnorm', 'clipvalue'],
  rmsprop: ['learningRate', 'rho', 'epsilon', 'momentum', 'clipnorm', 'clipvalue'],
  sgd: ['learningRate', 'momentum', 'nesterov', 'clipnorm', 'clipvalue'],
}

/**
 * An optimizer object's keys and values, checked before they become JSON: a misspelt key (`lr`) would be dropped
 * and a NaN, an Infinity or a null would arrive as null, all of which the core reads as "use the default".
 */
function checkOptimizer(optimizer: unknown): void {
  if (typeof optimizer !== 'object' || optimizer === null) return
  const o = optimizer as Record<string, unknown>
  const keys = typeof o.type === 'string' ? OPTIMIZER_KEYS[o.type.replace(/[_-]/g, '').toLowerCase()] : undefined
  if (!keys) throw new LstmError('INVALID_CONFIG', `compile(): unknown optimizer ${describe(o.type)}; expected adam, rmsprop or sgd`)
  for (const [k, v] of Object.entries(o)) {
    if (k === 'type' || v === undefined) continue
    if (!keys.includes(k)) throw new LstmError('INVALID_CONFIG', `compile(): unknown ${String(o.type)} option ${JSON.stringify(k)}; expected one of ${keys.join(', ')}`)
    if (k === 'nesterov') checkBool('compile(): optimizer nesterov', v, 'INVALID_CONFIG')
    else if (typeof v !== 'number' || !Number.isFinite(v)) throw new LstmError('INVALID_CONFIG', `compile(): optimizer ${k} must be a finite number, got ${describe(v)}`)
  }
}

/** `numThreads` as the constructor and `load` both take it: 1 to 256, one per core when not given. */
function threadCount(numThreads: unknown): number {
  return checkInt('numThreads', numThreads === undefined ? availableParallelism() : numThreads, 1, MAX_THREADS, 'INVALID_CONFIG')
}

/** The `dedicatedPool` option of the constructor and `load`. */
function dedicated(v: unknown): boolean {
  return checkBool('dedicatedPool', v, 'INVALID_CONFIG') ?? false
}

/** fit's options, checked and copied (the callback list too) at the call. */
function fitOptions(options: FitOptions | null | undefined) {
  const o = optionsOf('fit()', options)
  // Destructuring defaults apply to undefined only: a null option reaches its check and is refused.
  const { epochs = 1, batchSize = 32, initialEpoch = 0, validationSplit = 0, shuffle = true, verbose = 1, signal, callbacks = [] } = o
  checkInt('epochs', epochs, 0)
  checkInt('batchSize', batchSize, 1)
  checkInt('initialEpoch', initialEpoch, 0)
  if (typeof validationSplit !== 'number' || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new LstmError('INVALID_ARGUMENT', `validationSplit must be in [0, 1), got ${describe(validationSplit)}`)
  }
  checkBool('shuffle', shuffle)
  if (verbose !== 0 && verbose !== 1) throw new LstmError('INVALID_ARGUMENT', `verbose must be 0 or 1, got ${describe(verbose)}`)
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function' || typeof signal.removeEventListener !== 'function')) {
    throw new LstmError('INVALID_ARGUMENT', `signal must be an AbortSignal (with aborted, addEventListener and removeEventListener), got ${describe(signal)}`)
  }
  if (!Array.isArray(callbacks)) throw new LstmError('INVALID_ARGUMENT', `callbacks must be an array of callback objects, got ${describe(callbacks)}`)
  callbacks.forEach((c: unknown, i) => {
    if (typeof c !== 'object' || c === null) throw new LstmError('INVALID_ARGUMENT', `callbacks[${i}] must be a callback object, got ${describe(c)}`)
  })
  return { epochs, batchSize, validationSplit, shuffle, verbose, signal, initialEpoch, callbacks: [...callbacks] }
}

/** The `batchSize` option of evaluate and the predict methods. */
function batchSizeOf(what: string, options: EvaluateOptions | null | undefined): number {
  const { batchSize = 32 } = optionsOf(what, options)
  return checkInt('batchSize', batchSize, 1)
}

/**
 * Resolves once the observers have heard of `count` batches (`register` hands the wait to the batch handler). The
 * reports come through a weak native queue, which does not keep Node alive, so a timer does meanwhile.
 */
function observersReached(count: number, register: (wait: { count: number; resolve: () => void }) => void): Promise<void> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 60_000)
    register({
      count,
      resolve: () => {
        clearInterval(keepAlive)
        resolve()
      },
    })
  })
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
  private batcher?: Batcher

  constructor(layers: LayerSpec[], options?: SequentialOptions | null) {
    if (!Array.isArray(layers) || layers.length === 0) throw new LstmError('INVALID_CONFIG', 'Sequential needs a non-empty array of layers')
    for (const [i, l] of layers.entries()) {
      if (typeof l !== 'object' || l === null || !Object.hasOwn(KERAS_CLASS, (l as LayerSpec).type)) {
        const what = typeof l === 'object' && l !== null ? `a layer of type ${describe((l as { type?: unknown }).type)}` : describe(l)
        throw new LstmError('INVALID_CONFIG', `layer ${i} is not a layer (make layers with layers.lstm({...}) etc.), got ${what}`)
      }
    }
    const { seed = 0, numThreads, name = 'sequential', dedicatedPool } = optionsOf('new Sequential()', options, 'INVALID_CONFIG')
    checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER, 'INVALID_CONFIG')
    if (typeof name !== 'string') throw new LstmError('INVALID_CONFIG', `name must be a string, got ${describe(name)}`)
    this.name = name
    // Each description goes through its factory again (the factory of its type has that type's name), so a
    // hand-written `{ type: 'lstm', units: 2 ** 32 }` is checked as `layers.lstm` checks its config.
    this.specs = layers.map(({ type, ...config }) => (layerFactories[type] as (c: unknown) => LayerSpec)(config))
    const threads = threadCount(numThreads)
    const own = dedicated(dedicatedPool)
    this.nativeModel = call(() => new (native().NativeModel)(toJson('layers', { layers: this.specs, seed }), threads, own))
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
    const t = isTensor(x) ? checkedTensor(x, what) : Array.isArray(x) ? fromNested(x, this.firstIsEmbedding, what) : undefined
    if (!t) throw new LstmError('INVALID_ARGUMENT', `${what} must be a Tensor or nested number arrays, got ${describe(x)}`)
    if (this.firstIsEmbedding) checkTokens(t, what)
    return t
  }

  private toTarget(y: TensorLike, what = 'y'): Tensor {
    const t = isTensor(y) ? checkedTensor(y, what) : Array.isArray(y) ? fromNested(y, false, what) : undefined
    if (!t) throw new LstmError('INVALID_ARGUMENT', `${what} must be a Tensor or nested number arrays, got ${describe(y)}`)
    return t
  }

  /** x and y as tensors with the same number of samples. */
  private toPair(x: TensorLike, y: TensorLike): [Tensor, Tensor] {
    const xt = this.toInput(x)
    const yt = this.toTarget(y)
    if (xt.shape[0] !== yt.shape[0]) throw new LstmError('SHAPE_MISMATCH', `x has ${xt.shape[0]} samples but y has ${yt.shape[0]}`)
    return [xt, yt]
  }

  /**
   * Sets the loss, optimizer and metrics; resets the optimizer state. `MODEL_BUSY` while `fit` runs or while
   * predictions are in flight (it cannot wait for them: it is synchronous).
   */
  compile(options: CompileOptions): void {
    // Refused from callbacks too: the rest of the run would use a loss the data was not checked against.
    if (this.training) throw new LstmError('MODEL_BUSY', 'compile() was called while the model is training (from a callback too); wait for fit() to finish')
    if (typeof options !== 'object' || options === null) throw new LstmError('INVALID_CONFIG', 'compile() needs an options object with a loss')
    const { loss, optimizer = 'adam', metrics = [] } = options
    if (loss === undefined || loss === null) throw new LstmError('INVALID_CONFIG', 'compile(): loss is required')
    if (typeof loss !== 'string' && typeof loss !== 'object') throw new LstmError('INVALID_CONFIG', `compile(): loss must be a name or { type, fromLogits }, got ${describe(loss)}`)
    if (typeof optimizer !== 'string' && (typeof optimizer !== 'object' || optimizer === null)) {
      throw new LstmError('INVALID_CONFIG', `compile(): optimizer must be a name or { type, ... }, got ${describe(optimizer)}`)
    }
    if (!Array.isArray(metrics)) throw new LstmError('INVALID_CONFIG', `compile(): metrics must be an array, got ${String(metrics)}`)
    for (const m of metrics) {
      if (m !== 'accuracy' && m !== 'acc') throw new LstmError('INVALID_CONFIG', `compile(): unknown metric ${JSON.stringify(m)}; supported: 'accuracy'`)
    }
    checkOptimizer(optimizer)
    if (typeof loss === 'object' && loss !== null) {
      for (const k of Object.keys(loss)) {
        if (k !== 'type' && k !== 'fromLogits') throw new LstmError('INVALID_CONFIG', `compile(): unknown loss option ${JSON.stringify(k)}; expected type, fromLogits`)
      }
      checkBool('compile(): loss fromLogits', loss.fromLogits, 'INVALID_CONFIG')
    }
    // Options checked first: a refused call leaves the calls queued for a batch where they were.
    this.startQueuedPredictions()
    call(() => this.nativeModel.compile(toJson('loss', loss), toJson('optimizer', optimizer)))
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
   * aborts, and with the error of the first bad input it meets. Predictions in flight when it starts finish first
   * (on the old weights); predictions called while it runs fail with `MODEL_BUSY`.
   */
  async fit(x: TensorLike, y: TensorLike, options?: FitOptions | null): Promise<History> {
    // The busy flag is set before the first await, so a call right after fit() sees it.
    // Refused even from a callback: a nested fit would reset stopTraining and clear the busy flag in its `finally`
    // while the outer fit is still training.
    if (this.training) {
      throw new LstmError('MODEL_BUSY', 'fit() was called while the model is training (from a callback too); wait for the running fit() to finish')
    }
    this.training = true
    this.stopTraining = false
    this.startQueuedPredictions()
    const datasets: number[] = []
    try {
      this.requireCompiled('fit')
      // Everything fit reads of its arguments is read and copied here, before the first await: the caller may
      // reuse its buffers, options and callback list as soon as fit() returns its promise.
      const { epochs, batchSize, validationSplit, shuffle, verbose, signal, initialEpoch, callbacks: given } = fitOptions(options)
      if (signal?.aborted) throw abortError()
      let [xt, yt] = this.toPair(x, y)
      if (xt.shape.length === 0 || xt.shape[0] === 0) throw new LstmError('INVALID_ARGUMENT', `empty dataset: x has shape [${xt.shape.join(', ')}]`)
      let val: [Tensor, Tensor] | undefined
      if (options?.validationData !== undefined) {
        const vd: unknown = options.validationData
        if (!Array.isArray(vd) || vd.length !== 2) throw new LstmError('INVALID_ARGUMENT', `validationData must be a pair [x, y], got ${describe(vd)}`)
        const [xv, yv] = vd as [TensorLike, TensorLike]
        val = [this.toInput(xv, 'validationData x'), this.toTarget(yv, 'validationData y')]
      } else if (validationSplit > 0) {
        const n = xt.shape[0]
        const split = Math.floor(n * (1 - validationSplit))
        if (split === 0 || split === n) throw new LstmError('INVALID_ARGUMENT', `validationSplit ${validationSplit} of ${n} samples leaves an empty training or validation set`)
        val = [rows(xt, split, n), rows(yt, split, n)]
        xt = rows(xt, 0, split)
        yt = rows(yt, 0, split)
      }
      // Both sets are handed to the binding, which copies them at the call, before anything is awaited.
      const pending: Promise<number>[] = []
      for (const [a, b] of val ? [[xt, yt], val] : [[xt, yt]]) pending.push(callAsync(() => this.nativeModel.addDataset(a.data, [...a.shape], b.data, [...b.shape])))
      const settled = await Promise.allSettled(pending)
      for (const r of settled) if (r.status === 'fulfilled') datasets.push(r.value)
      for (const r of settled) if (r.status === 'rejected') throw r.reason
      const [trainId, valId] = datasets as [number, number | undefined]

      const n = xt.shape[0]
      const steps = Math.ceil(n / batchSize)
      const callbacks = [...given]
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
      let observerError: { error: unknown } | undefined
      const observing = new Set<Promise<void>>()
      // Batches the native loop has reported to the observers, and the wait for the rest: its calls reach the JS
      // thread through a queue that may still hold some when trainBatches resolves.
      let delivered = 0
      let awaited: { count: number; resolve: () => void } | undefined
      const observerFailed = (error: unknown) => {
        observerError ??= { error }
        this.nativeModel.requestStop()
      }
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
                  // Runs on the JS thread from a weak threadsafe function: nothing may throw back into native code, and
                  // nothing may reject unhandled (that ends Node). A failing observer stops the run and fails fit.
                  const logs = this.logsOf(p.loss, p.accuracy)
                  const running = this.previewLogs(lossSum, accSum, seen, first + p.batch, batchSize, n, logs)
                  for (const o of observers) {
                    try {
                      const r: unknown = o.onBatchEnd?.(first + p.batch, running)
                      if (r instanceof Promise) {
                        const settled = r.then(() => {}, observerFailed)
                        observing.add(settled)
                        void settled.then(() => observing.delete(settled))
                      }
                    } catch (err) {
                      observerFailed(err)
                    }
                  }
                  delivered++
                  if (awaited && delivered >= awaited.count) awaited.resolve()
                }
              : undefined
            const before = delivered
            const results = await callAsync(() => this.nativeModel.trainBatches(trainId, order, batchSize, first, count, onBatch))
            if (onBatch) {
              // Every batch done is reported once; fit goes on (or resolves) only after the observers heard of each
              // and their promises settled, so a rejection after the last batch still fails fit.
              const count = before + results.length / 2
              if (delivered < count) await observersReached(count, (wait) => (awaited = wait))
              awaited = undefined
              await Promise.all(observing)
            }
            if (observerError) throw observerError.error
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
  async evaluate(x: TensorLike, y: TensorLike, options?: EvaluateOptions | null): Promise<EvaluateResult> {
    this.assertIdle('evaluate')
    this.requireCompiled('evaluate')
    const batchSize = batchSizeOf('evaluate()', options)
    const [xt, yt] = this.toPair(x, y)
    const id = await callAsync(() => this.nativeModel.addDataset(xt.data, [...xt.shape], yt.data, [...yt.shape]))
    try {
      const r = await callAsync(() => this.nativeModel.evaluateDataset(id, batchSize))
      return this.logsOf(r.loss, r.accuracy) as unknown as EvaluateResult
    } finally {
      this.nativeModel.removeDataset(id)
    }
  }

  /**
   * Outputs for x, computed off the JS thread. Predictions on one model run at the same time as each other; while
   * `fit` runs, `predict` fails with `MODEL_BUSY` (unless called from one of fit's callbacks). With
   * {@link Sequential.enableBatching}, calls of fewer samples than the batch size are coalesced with others.
   */
  async predict(x: TensorLike, options?: PredictOptions | null): Promise<Tensor> {
    this.assertIdle('predict')
    const batchSize = batchSizeOf('predict()', options)
    const xt = this.toInput(x)
    if (this.batcher) return this.batcher.predict(xt)
    return this.predictNative(xt, batchSize)
  }

  private async predictNative(xt: Tensor, batchSize: number): Promise<Tensor> {
    const out = await callAsync(() => this.nativeModel.predict(xt.data, [...xt.shape], batchSize))
    return tensor(out.data, out.shape)
  }

  /**
   * Coalesces concurrent `predict` and `predictOnBatch` calls whose samples have the same shape (the same sequence
   * length) into native batches of up to `maxBatchSize` samples (default 32); each caller gets its own rows. A call on
   * a free model runs at once (with the calls of the same event-loop turn, after `maxDelayMs` if set); calls made
   * while a batch runs run together when it ends. A row's result does not depend on the rows it shares a batch
   * with (to within 1e-6). One call's bad data fails only that call. For servers answering one sample per request.
   */
  enableBatching(options?: BatchingOptions | null): void {
    const checked = batchingOptions(options)
    this.batcher?.flushAll()
    this.batcher = new Batcher(checked, (x) => this.predictNative(x, Math.max(1, x.shape[0])))
  }

  /** Stops coalescing predictions (the calls already waiting run now). */
  disableBatching(): void {
    this.batcher?.flushAll()
    this.batcher = undefined
  }

  /** The batching options in force, or `undefined` when predictions are not coalesced. */
  get batching(): Readonly<Required<BatchingOptions>> | undefined {
    return this.batcher?.options
  }

  /**
   * Hands the calls waiting in the batcher to the model now: they were made before the change about to happen, so
   * they must count as predictions in flight (which fit and loadWeights wait for, and compile and setWeights refuse
   * to run beside), not run later on the changed model.
   */
  private startQueuedPredictions(): void {
    this.batcher?.flushAll()
  }

  /** Like `predict`, on the calling thread: for small inputs where a promise is a nuisance. */
  predictSync(x: TensorLike, options?: PredictOptions | null): Tensor {
    this.assertIdle('predictSync')
    const batchSize = batchSizeOf('predictSync()', options)
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
    this.assertIdle('getLearningRate')
    this.requireCompiled('getLearningRate')
    return call(() => this.nativeModel.learningRate())
  }

  /**
   * Changes the learning rate and keeps the optimizer's state, for schedules (see `callbacks.learningRateScheduler`).
   * Allowed between `fit` calls and from fit's callbacks; from anywhere else while `fit` runs it is `MODEL_BUSY`.
   */
  setLearningRate(learningRate: number): void {
    this.assertIdle('setLearningRate')
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

  /**
   * Replaces the named weights (PyTorch names and layouts); checks all before changing any. `MODEL_BUSY` while `fit`
   * runs or while predictions are in flight.
   */
  setWeights(weights: Weights): void {
    this.assertIdle('setWeights')
    this.startQueuedPredictions()
    if (typeof weights !== 'object' || weights === null) throw new LstmError('INVALID_ARGUMENT', 'setWeights() takes a record of name → Tensor')
    const list = Object.entries(weights).map(([name, t]) => {
      // A value that is not a Tensor (a plain array, undefined) gets a typed error, not a bare TypeError.
      if (!isTensor(t)) {
        throw new LstmError('INVALID_ARGUMENT', `setWeights(): weight ${name} must be a Tensor (tensor(new Float32Array(...), shape)), got ${describe(t)}`)
      }
      const checked = checkedTensor(t, `setWeights(): weight ${name}`)
      const data = checked.data instanceof Float32Array ? checked.data : Float32Array.from(checked.data)
      return { name, data, shape: [...checked.shape] }
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
  async save(path: string, options?: SaveOptions | null): Promise<void> {
    this.assertIdle('save')
    checkPath('save(): path', path)
    const includeOptimizer = checkBool('includeOptimizer', optionsOf('save()', options).includeOptimizer) ?? true
    await callAsync(() => this.nativeModel.save(path, includeOptimizer, this.userJson()))
  }

  /** What `save` writes besides the weights; `metadata` must survive JSON (no BigInt, no cycle). */
  private userJson(): string {
    return toJson('metadata', { metrics: this.compiled?.metrics ?? [], name: this.name, metadata: this.metadata })
  }

  /** Writes only the weights (and the architecture they belong to). */
  async saveWeights(path: string): Promise<void> {
    this.assertIdle('saveWeights')
    checkPath('saveWeights(): path', path)
    await callAsync(() => this.nativeModel.save(path, false, this.userJson()))
  }

  /**
   * Loads weights saved from a model of the same architecture (else `CORRUPT_WEIGHTS`). Predictions in flight
   * finish first, on the old weights.
   */
  async loadWeights(path: string): Promise<void> {
    this.assertIdle('loadWeights')
    this.startQueuedPredictions()
    checkPath('loadWeights(): path', path)
    await callAsync(() => this.nativeModel.loadWeights(path))
  }

  /**
   * Reads a Keras model: a Keras 3 `.keras` file, or a legacy HDF5 `.h5` written by Keras 3 or Keras 2 (tf.keras).
   * The weights are converted to lstm-native's (PyTorch's) layout; the compile configuration, when the file has one,
   * becomes the model's loss and optimizer (optimizer state is not read). A layer or option lstm-native does not
   * implement is refused with `UNSUPPORTED`; a corrupt, truncated or non-Keras file is `CORRUPT_WEIGHTS`, a missing
   * one `IO`. The HDF5 and zip libraries load on the first call, not at import.
   */
  static async fromKeras(path: string, options?: FromKerasOptions | null): Promise<Sequential> {
    checkPath('Sequential.fromKeras(): path', path)
    const { seed = 0, numThreads, compile = true } = optionsOf('Sequential.fromKeras()', options, 'INVALID_CONFIG')
    checkBool('compile', compile, 'INVALID_CONFIG')
    checkInt('seed', seed, 0, Number.MAX_SAFE_INTEGER, 'INVALID_CONFIG')
    const threads = threadCount(numThreads)
    const { readKeras } = await import('./keras.js')
    const keras = await readKeras(path, { compile })
    try {
      const model = new Sequential(keras.specs, { seed, numThreads: threads, name: keras.name })
      model.setWeights(keras.weights)
      if (keras.compile) model.compile(keras.compile as CompileOptions)
      if (keras.metadata) model.metadata = keras.metadata
      return model
    } catch (err) {
      // The options were checked above: a value the layers, weights or optimizer refuse came from the file.
      if (err instanceof LstmError && err.code !== 'OUT_OF_MEMORY' && err.code !== 'INTERNAL') {
        throw new LstmError('CORRUPT_WEIGHTS', `${path}: the Keras model's configuration or weights are not valid: ${err.message}`, { cause: err })
      }
      throw err
    }
  }

  /**
   * Writes a Keras 3 `.keras` file that `keras.saving.load_model` opens: the architecture, the weights in Keras's
   * layout (an LSTM's or SimpleRNN's two PyTorch biases as their sum, a GRU's as Keras's `[2, 3·units]` bias), the
   * loss and optimizer when compiled, and `metadata` (in the zip's metadata.json, which `fromKeras` reads back).
   */
  async toKeras(path: string): Promise<void> {
    this.assertIdle('toKeras')
    checkPath('toKeras(): path', path)
    const model: KerasModel = { name: this.name, specs: this.specs.map((s) => ({ ...s })), weights: this.getWeights(), metadata: this.metadata }
    if (this.compiled) model.compile = { loss: this.compiled.loss, optimizer: this.compiled.optimizer, metrics: this.compiled.metrics }
    const { writeKeras } = await import('./keras.js')
    await writeKeras(path, model)
  }

  /** Reads a model written by `save`: architecture, weights, compile settings, optimizer state and metadata. */
  static async load(path: string, options?: Pick<SequentialOptions, 'numThreads' | 'dedicatedPool'> | null): Promise<Sequential> {
    checkPath('Sequential.load(): path', path)
    const o = optionsOf('Sequential.load()', options)
    const numThreads = threadCount(o.numThreads)
    const own = dedicated(o.dedicatedPool)
    const [nativeModel, userJson] = await callAsync(() => native().NativeModel.load(path, numThreads, own))
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
      batcher: undefined,
    })
    return model
  }
}

/** The file extensions {@link loadModel} reads as Keras models. */
const KERAS_EXTENSIONS = ['.keras', '.h5', '.hdf5']

/**
 * Reads a model file by its extension: `.keras`, `.h5` (or `.hdf5`) with {@link Sequential.fromKeras}, anything else
 * (`.safetensors`) with {@link Sequential.load}. The CLI's commands load their `--model` with this.
 */
export async function loadModel(path: string, options?: { numThreads?: number } | null): Promise<Sequential> {
  checkPath('loadModel(): path', path)
  const { numThreads } = optionsOf('loadModel()', options)
  const dot = path.lastIndexOf('.')
  const extension = dot >= 0 ? path.slice(dot).toLowerCase() : ''
  return KERAS_EXTENSIONS.includes(extension) ? Sequential.fromKeras(path, { numThreads }) : Sequential.load(path, { numThreads })
}
