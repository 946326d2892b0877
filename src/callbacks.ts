/**
 * Training callbacks, as in Keras: objects with optional (possibly async) hooks. While a hook runs, training is
 * paused, so the hook may call `model.save`, `model.getWeights` or `model.setWeights`, and may set
 * `model.stopTraining = true`.
 */
import type { Sequential } from './model.js'
import { LstmError } from './errors.js'
import { checkBool, checkInt, describe, INT32_MAX, optionsOf } from './validate.js'

/** Metric values of a batch or an epoch: `loss`, `accuracy`, `val_loss`, `val_accuracy`. */
export type Logs = Record<string, number>

/** What `fit` tells callbacks before training. */
export interface FitParams {
  /** The epoch count `fit` was asked for. */
  epochs: number
  /** Batches per epoch. */
  steps: number
  /** Training samples per epoch (after any validation split). */
  samples: number
  /** Samples per batch. */
  batchSize: number
  /** `fit`'s `verbose`: 0 silent, 1 progress bar. */
  verbose: number
}

/**
 * A training callback: every hook is optional and may be async. While a hook runs, training is paused, so it may
 * call any method of the model but `compile` and `fit` (`save`, `getWeights`, `setWeights`, `setLearningRate`...), or
 * set `model.stopTraining = true`.
 */
export interface Callback {
  /** Called once before training with the model being trained. */
  setModel?(model: Sequential): void
  /** Called once before training with the run's epochs, batch counts and verbosity. */
  setParams?(params: FitParams): void
  /** Called before the first epoch. */
  onTrainBegin?(logs?: Logs): void | Promise<void>
  /** Called at the start of each epoch (0-based). */
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>
  /** Called after each batch (0-based within its epoch) with the epoch's running means so far. */
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>
  /** Called at the end of each epoch with its metrics, validation included. */
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>
  /** Called after the last epoch (also when training stopped early). */
  onTrainEnd?(logs?: Logs): void | Promise<void>
  /**
   * Set when `onBatchEnd` only observes (a progress display): `fit` may then run many batches per native call and
   * report them as they finish, without pausing training for the hook. If such a hook throws or rejects, training
   * stops and `fit` rejects with that error.
   */
  readonly observesBatchesOnly?: boolean
}

/** Per-epoch logs of a `fit` call, as Keras's History. */
export class History {
  /** The epochs run (0-based). */
  readonly epoch: number[] = []
  /** Each metric's value per epoch: `loss`, `accuracy`, `val_loss`, `val_accuracy`, `lr`. */
  readonly history: Record<string, number[]> = {}

  /** Appends one epoch's logs (called by `fit`). */
  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch)
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v)
  }
}

/** Options of {@link progressBar}. */
export interface ProgressBarOptions {
  /** Where to draw. Default `process.stdout`. */
  stream?: {
    /** Writes one piece of the progress output. */
    write(text: string): unknown
    /** A terminal: redraw one line in place. Otherwise one line per epoch. */
    isTTY?: boolean
    /** The terminal's width. */
    columns?: number
  }
  /** Width of the `[=====]` bar. Default 30. */
  width?: number
  /** Minimum time between redraws on a terminal, in ms. Default 50. */
  intervalMs?: number
}

function formatValue(v: number): string {
  const a = Math.abs(v)
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(4) : v.toFixed(4)
}

function formatDuration(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(Math.floor(s % 60)).padStart(2, '0')}`
  if (s >= 60) return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`
  return `${Math.round(s)}s`
}

function formatStep(s: number): string {
  return s >= 1 ? `${s.toFixed(0)}s/step` : s >= 1e-3 ? `${(s * 1e3).toFixed(0)}ms/step` : `${(s * 1e6).toFixed(0)}us/step`
}

/**
 * Keras's progress bar: `Epoch 1/3  391/391 [==============================] 14s 36ms/step - loss: 0.5200 - accuracy: 0.7400`.
 * On a terminal it is one line redrawn in place; when the output is piped it prints one line per epoch.
 */
export class ProgressBar implements Callback {
  readonly observesBatchesOnly = true
  private params?: FitParams
  private epoch = 0
  private epochStart = 0
  private lastDraw = 0
  private readonly stream: NonNullable<ProgressBarOptions['stream']>
  private readonly width: number
  private readonly intervalMs: number

  constructor(options?: ProgressBarOptions | null) {
    const { stream = process.stdout, width = 30, intervalMs = 50 } = optionsOf('progressBar', options)
    if (typeof stream !== 'object' || stream === null || typeof stream.write !== 'function') {
      throw new LstmError('INVALID_ARGUMENT', `progressBar: stream must have a write(text) method, got ${describe(stream)}`)
    }
    this.stream = stream
    this.width = checkInt('progressBar: width', width, 1, 1000)
    if (typeof intervalMs !== 'number' || !(intervalMs >= 0)) throw new LstmError('INVALID_ARGUMENT', `progressBar: intervalMs must be a number ≥ 0, got ${describe(intervalMs)}`)
    this.intervalMs = intervalMs
  }

  setParams(params: FitParams): void {
    this.params = params
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch
    this.epochStart = performance.now()
    this.lastDraw = 0
  }

  onBatchEnd(batch: number, logs: Logs = {}): void {
    if (!this.stream.isTTY) return
    const now = performance.now()
    const steps = this.params?.steps ?? batch + 1
    if (batch + 1 < steps && now - this.lastDraw < this.intervalMs) return
    this.lastDraw = now
    this.stream.write(`\r${this.line(batch + 1, logs, false)}\x1b[K`)
  }

  onEpochEnd(_epoch: number, logs: Logs = {}): void {
    const steps = this.params?.steps ?? 0
    this.stream.write(`${this.stream.isTTY ? '\r' : ''}${this.line(steps, logs, true)}${this.stream.isTTY ? '\x1b[K' : ''}\n`)
  }

  /** One progress line; `done` shows the epoch's total time instead of the time left. */
  line(step: number, logs: Logs, done: boolean): string {
    const steps = this.params?.steps ?? step
    const epochs = this.params?.epochs ?? 1
    const elapsed = (performance.now() - this.epochStart) / 1000
    const filled = steps > 0 ? Math.floor((this.width * step) / steps) : this.width
    const bar = step >= steps ? '='.repeat(this.width) : '='.repeat(Math.max(0, filled - 1)) + '>' + '.'.repeat(this.width - Math.max(1, filled))
    const perStep = step > 0 ? elapsed / step : 0
    const time = done ? `${formatDuration(elapsed)} ${formatStep(perStep)}` : `ETA: ${formatDuration(perStep * (steps - step))}`
    const metrics = Object.entries(logs)
      .map(([k, v]) => ` - ${k}: ${formatValue(v)}`)
      .join('')
    const width = String(steps).length
    return `Epoch ${this.epoch + 1}/${epochs}  ${String(step).padStart(width)}/${steps} [${bar}] ${time}${metrics}`
  }
}

/** Whether a lower (`min`) or higher (`max`) metric is better; `auto` takes accuracy-like names as `max`. */
export type Mode = 'auto' | 'min' | 'max'

function checkMode(who: string, mode: unknown): Mode {
  if (mode !== 'auto' && mode !== 'min' && mode !== 'max') throw new LstmError('INVALID_ARGUMENT', `${who}: mode must be auto, min or max, got ${describe(mode)}`)
  return mode
}

function isBetter(mode: Mode, monitor: string, current: number, best: number, minDelta: number): boolean {
  const max = mode === 'max' || (mode === 'auto' && /acc|auc|precision|recall/.test(monitor))
  return max ? current - minDelta > best : current + minDelta < best
}

function monitored(logs: Logs | undefined, monitor: string, who: string): number | undefined {
  const v = logs?.[monitor]
  if (v === undefined) {
    process.emitWarning(`${who}: metric ${JSON.stringify(monitor)} is not available; available: ${Object.keys(logs ?? {}).join(', ')}`)
  }
  return v
}

/** Options of {@link earlyStopping}. */
export interface EarlyStoppingOptions {
  /** Metric to watch. Default `'val_loss'`. */
  monitor?: string
  /** Epochs without improvement before stopping. Default 0. */
  patience?: number
  /** Smallest change that counts as an improvement. Default 0. */
  minDelta?: number
  /** Whether lower (`min`) or higher (`max`) is better; `auto` guesses from the name. Default `auto`. */
  mode?: Mode
  /** When stopping, put back the weights of the best epoch. Default `false`. */
  restoreBestWeights?: boolean
}

/** Keras's EarlyStopping. */
export class EarlyStopping implements Callback {
  /** The metric watched. */
  readonly monitor: string
  /** Epochs without improvement before stopping. */
  readonly patience: number
  /** Smallest change that counts as an improvement. */
  readonly minDelta: number
  /** Whether lower or higher is better. */
  readonly mode: Mode
  /** Whether the best epoch's weights are put back when stopping. */
  readonly restoreBestWeights: boolean
  /** The epoch (0-based) training stopped after, or -1. */
  stoppedEpoch = -1
  /** The epoch (0-based) with the best value of the metric so far, or -1. */
  bestEpoch = -1
  /** The best value of the metric so far (NaN before the first epoch). */
  best = Number.NaN
  private wait = 0
  private model?: Sequential
  private bestWeights?: ReturnType<Sequential['getWeights']>

  constructor(options?: EarlyStoppingOptions | null) {
    const { monitor = 'val_loss', patience = 0, minDelta = 0, mode = 'auto', restoreBestWeights = false } = optionsOf('earlyStopping', options)
    if (typeof monitor !== 'string') throw new LstmError('INVALID_ARGUMENT', `earlyStopping: monitor must be a metric name, got ${describe(monitor)}`)
    if (typeof minDelta !== 'number' || !Number.isFinite(minDelta)) throw new LstmError('INVALID_ARGUMENT', `earlyStopping: minDelta must be a finite number, got ${describe(minDelta)}`)
    this.monitor = monitor
    this.patience = checkInt('earlyStopping: patience', patience, 0, INT32_MAX)
    this.minDelta = Math.abs(minDelta)
    this.mode = checkMode('earlyStopping', mode)
    this.restoreBestWeights = checkBool('earlyStopping: restoreBestWeights', restoreBestWeights) ?? false
  }

  setModel(model: Sequential): void {
    this.model = model
  }

  onTrainBegin(): void {
    this.wait = 0
    this.stoppedEpoch = -1
    this.bestEpoch = -1
    this.best = Number.NaN
    this.bestWeights = undefined
  }

  onEpochEnd(epoch: number, logs?: Logs): void {
    const current = monitored(logs, this.monitor, 'earlyStopping')
    if (current === undefined || !this.model) return
    if (Number.isNaN(this.best) || isBetter(this.mode, this.monitor, current, this.best, this.minDelta)) {
      this.best = current
      this.bestEpoch = epoch
      this.wait = 0
      if (this.restoreBestWeights) this.bestWeights = this.model.getWeights()
      return
    }
    this.wait += 1
    // As Keras: stop once `patience` epochs in a row brought no improvement.
    if (this.wait >= Math.max(1, this.patience)) {
      this.stoppedEpoch = epoch
      this.model.stopTraining = true
      if (this.restoreBestWeights && this.bestWeights) this.model.setWeights(this.bestWeights)
    }
  }
}

/** Options of {@link modelCheckpoint}. */
export interface ModelCheckpointOptions {
  /** File to write; `{epoch}` is replaced by the 1-based epoch number, `{epoch:02d}` pads it to 2 digits. */
  path: string
  /** Metric deciding the best epoch. Default `'val_loss'`. */
  monitor?: string
  /** Only write when the monitored metric improves. Default `false`. */
  saveBestOnly?: boolean
  /** Whether lower or higher is better. Default `auto`. */
  mode?: Mode
  /** Write only the weights, not the optimizer state. Default `false`. */
  saveWeightsOnly?: boolean
}

/** Keras's ModelCheckpoint: saves the model after each epoch (or each better one). */
export class ModelCheckpoint implements Callback {
  /** The options, defaults filled in. */
  readonly options: Required<Omit<ModelCheckpointOptions, 'mode'>> & {
    /** Whether lower or higher is better. */
    mode: Mode
  }
  private best = Number.NaN
  private model?: Sequential

  constructor(options: ModelCheckpointOptions) {
    const { path, monitor = 'val_loss', saveBestOnly = false, mode = 'auto', saveWeightsOnly = false } = optionsOf('modelCheckpoint', options)
    if (typeof path !== 'string' || path === '') throw new LstmError('INVALID_ARGUMENT', `modelCheckpoint: path is required (a non-empty string), got ${describe(path)}`)
    if (typeof monitor !== 'string') throw new LstmError('INVALID_ARGUMENT', `modelCheckpoint: monitor must be a metric name, got ${describe(monitor)}`)
    checkBool('modelCheckpoint: saveBestOnly', saveBestOnly)
    checkBool('modelCheckpoint: saveWeightsOnly', saveWeightsOnly)
    this.options = { path, monitor, saveBestOnly, mode: checkMode('modelCheckpoint', mode), saveWeightsOnly }
  }

  setModel(model: Sequential): void {
    this.model = model
  }

  async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    if (!this.model) return
    // A Python-style width in `{epoch:02d}` (Keras's usual `weights.{epoch:02d}.safetensors`) pads as Keras does:
    // `weights.01`.
    const path = this.options.path.replace(/\{epoch(:[^}]*)?\}/g, (_all, spec?: string) => {
      const width = /^:(0?)(\d+)d$/.exec(spec ?? '')
      return width ? String(epoch + 1).padStart(Number(width[2]), width[1] ? '0' : ' ') : String(epoch + 1)
    })
    if (this.options.saveBestOnly) {
      const current = monitored(logs, this.options.monitor, 'modelCheckpoint')
      if (current === undefined) return
      if (!Number.isNaN(this.best) && !isBetter(this.options.mode, this.options.monitor, current, this.best, 0)) return
      this.best = current
    }
    if (this.options.saveWeightsOnly) await this.model.saveWeights(path)
    else await this.model.save(path)
  }
}

/**
 * Sets the learning rate at the start of every epoch from `schedule(epoch, currentRate)` (Keras's
 * LearningRateScheduler; `epoch` counts from 0). The optimizer's state is kept. The epoch's rate appears in its logs
 * as `lr`, as in Keras.
 */
export class LearningRateScheduler implements Callback {
  private model?: Sequential
  private rate = Number.NaN

  constructor(
    /** Gives the rate of an epoch (0-based) from the current rate. */
    readonly schedule: (epoch: number, learningRate: number) => number,
    /** 1 prints each epoch's rate. */
    readonly verbose = 0,
  ) {
    if (typeof schedule !== 'function') throw new LstmError('INVALID_ARGUMENT', `learningRateScheduler: schedule must be a function (epoch, learningRate) => number, got ${describe(schedule)}`)
    if (verbose !== 0 && verbose !== 1) throw new LstmError('INVALID_ARGUMENT', `learningRateScheduler: verbose must be 0 or 1, got ${describe(verbose)}`)
  }

  setModel(model: Sequential): void {
    this.model = model
  }

  onEpochBegin(epoch: number): void {
    if (!this.model) return
    const next = this.schedule(epoch, this.model.getLearningRate())
    if (typeof next !== 'number' || !Number.isFinite(next) || next < 0) {
      throw new LstmError('INVALID_ARGUMENT', `learningRateScheduler: the schedule returned ${String(next)} for epoch ${epoch}; it must return a finite number >= 0`)
    }
    this.model.setLearningRate(next)
    this.rate = this.model.getLearningRate()
    if (this.verbose > 0) console.log(`\nEpoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${this.rate}.`)
  }

  onEpochEnd(_epoch: number, logs?: Logs): void {
    if (logs && !Number.isNaN(this.rate)) logs.lr = this.rate
  }
}

/** The Keras-like progress bar (the default at `verbose: 1`). */
export function progressBar(options?: ProgressBarOptions | null): ProgressBar {
  return new ProgressBar(options)
}

/** Stop when a metric stops improving (Keras's EarlyStopping). */
export function earlyStopping(options?: EarlyStoppingOptions | null): EarlyStopping {
  return new EarlyStopping(options)
}

/** Save the model after every epoch, or only the best (Keras's ModelCheckpoint). */
export function modelCheckpoint(options: ModelCheckpointOptions): ModelCheckpoint {
  return new ModelCheckpoint(options)
}

/** Set the learning rate at each epoch from a schedule (Keras's LearningRateScheduler). */
export function learningRateScheduler(schedule: (epoch: number, learningRate: number) => number, verbose = 0): LearningRateScheduler {
  return new LearningRateScheduler(schedule, verbose)
}
