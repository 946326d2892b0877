/**
 * Coalescing of concurrent predictions: calls whose samples have the same shape (the same sequence length) that
 * arrive within a few milliseconds of each other run as one native batch, and each caller gets its own rows back.
 * A server answering single-sample requests pays one batch pass per batch instead of one per request.
 */
import { LstmError } from './errors.js'
import { type Tensor, tensor } from './tensor.js'
import { checkInt, describe, optionsOf } from './validate.js'

/** Options of {@link Sequential.enableBatching}. */
export interface BatchingOptions {
  /** The most samples one native batch takes. Default 32. */
  maxBatchSize?: number
  /** How long the first call of a batch waits for others to join it, in milliseconds. Default 2. */
  maxDelayMs?: number
}

/** Runs one batch of samples natively (the model's own `predict`, without batching). */
export type RunBatch = (x: Tensor) => Promise<Tensor>

interface Pending {
  x: Tensor
  resolve: (t: Tensor) => void
  reject: (e: unknown) => void
}

interface Queue {
  calls: Pending[]
  rows: number
  timer?: ReturnType<typeof setTimeout>
}

/** The checked batching options. */
export function batchingOptions(options: BatchingOptions | null | undefined): Required<BatchingOptions> {
  const { maxBatchSize = 32, maxDelayMs = 2 } = optionsOf('enableBatching()', options)
  checkInt('maxBatchSize', maxBatchSize, 1)
  if (typeof maxDelayMs !== 'number' || !Number.isFinite(maxDelayMs) || maxDelayMs < 0 || maxDelayMs > 60_000) {
    throw new LstmError('INVALID_ARGUMENT', `maxDelayMs must be a number of milliseconds in [0, 60000], got ${describe(maxDelayMs)}`)
  }
  return { maxBatchSize, maxDelayMs }
}

/** Rows `from` to `to` of a batch's output, copied (each caller owns its result). */
function rowsOf(t: Tensor, from: number, to: number): Tensor {
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1)
  return tensor(t.data.slice(from * rowLen, to * rowLen), [to - from, ...t.shape.slice(1)])
}

/** One tensor of all the calls' samples, in order. */
function concat(calls: Pending[], rows: number): Tensor {
  const first = calls[0].x
  const rowLen = first.shape.slice(1).reduce((a, b) => a * b, 1)
  const data = first.dtype === 'int32' ? new Int32Array(rows * rowLen) : new Float32Array(rows * rowLen)
  let offset = 0
  for (const c of calls) {
    data.set(c.x.data, offset)
    offset += c.x.data.length
  }
  return tensor(data, [rows, ...first.shape.slice(1)])
}

/** The queues of one model's calls, by sample shape and dtype. */
export class Batcher {
  private readonly queues = new Map<string, Queue>()

  constructor(
    readonly options: Required<BatchingOptions>,
    private readonly run: RunBatch,
  ) {}

  /** x's predictions, computed in a batch with the other calls that arrive meanwhile. */
  predict(x: Tensor): Promise<Tensor> {
    const n = x.shape[0]
    // A call as large as a batch gains nothing from waiting.
    if (n >= this.options.maxBatchSize || n === 0) return this.run(x)
    const key = `${x.dtype}:${x.shape.slice(1).join(',')}`
    return new Promise<Tensor>((resolve, reject) => {
      let q = this.queues.get(key)
      if (q && q.rows + n > this.options.maxBatchSize) {
        this.flush(key, q)
        q = undefined
      }
      if (!q) {
        q = { calls: [], rows: 0 }
        this.queues.set(key, q)
        const queue = q
        q.timer = setTimeout(() => this.flush(key, queue), this.options.maxDelayMs)
      }
      q.calls.push({ x, resolve, reject })
      q.rows += n
      if (q.rows >= this.options.maxBatchSize) this.flush(key, q)
    })
  }

  /** Runs everything still queued now. */
  flushAll(): void {
    for (const [key, q] of this.queues) this.flush(key, q)
  }

  private flush(key: string, q: Queue): void {
    if (this.queues.get(key) === q) this.queues.delete(key)
    clearTimeout(q.timer)
    const calls = q.calls
    if (calls.length === 0) return
    if (calls.length === 1) {
      this.run(calls[0].x).then(calls[0].resolve, calls[0].reject)
      return
    }
    this.run(concat(calls, q.rows)).then(
      (out) => {
        let row = 0
        for (const c of calls) {
          const n = c.x.shape[0]
          c.resolve(rowsOf(out, row, row + n))
          row += n
        }
      },
      // One caller's bad data (an id out of range, a NaN) fails the whole batch: each call then runs alone, so that
      // it fails only its own caller.
      () => {
        for (const c of calls) this.run(c.x).then(c.resolve, c.reject)
      },
    )
  }
}
