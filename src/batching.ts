/**
 * Coalescing of concurrent predictions: calls whose samples have the same shape (the same sequence length) run as
 * one native batch, and each caller gets its own rows back. A server answering single-sample requests pays one
 * batch pass per batch instead of one per request.
 *
 * A batch starts as soon as the model is free: at once when no batch is running (with the calls made in the same
 * event-loop turn), else when the running batch ends, with every call that arrived meanwhile. So a lone caller
 * waits for nothing, and under load the batches grow with the load instead of with a fixed delay.
 */
import { LstmError } from './errors.js'
import { type Tensor, tensor } from './tensor.js'
import { checkInt, describe, optionsOf } from './validate.js'

/** Options of {@link Sequential.enableBatching}. */
export interface BatchingOptions {
  /** The most samples one native batch takes. Default 32. */
  maxBatchSize?: number
  /**
   * How long a call waits for others to join its batch when the model is free, in milliseconds (a batch that
   * reaches `maxBatchSize` starts at once). Default 2, as the clients of a batch that has just ended come back one
   * by one; 0 runs a call on a free model at once (with the calls made in the same event-loop turn), best when
   * requests come one at a time. Calls made while a batch runs always wait for it to end, and then run together.
   */
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
  /** When its first call arrived (`performance.now()`). */
  since: number
}

/**
 * Batches running at once on one model. One: the model's work is already spread over the compute threads, and a
 * second batch in flight would only take rows from the next one (smaller batches, no more throughput); the next
 * batch starts from the running one's completion callback, before its callers are answered, so the compute threads
 * do not wait for the JS thread.
 */
const RUNNING_BATCHES = 1

/** The checked batching options. */
export function batchingOptions(options: BatchingOptions | null | undefined): Required<BatchingOptions> {
  const { maxBatchSize = 32, maxDelayMs = 2 } = optionsOf('enableBatching()', options)
  checkInt('maxBatchSize', maxBatchSize, 1)
  if (typeof maxDelayMs !== 'number' || !Number.isFinite(maxDelayMs) || maxDelayMs < 0 || maxDelayMs > 60_000) {
    throw new LstmError('INVALID_ARGUMENT', `maxDelayMs must be a number of milliseconds in [0, 60000], got ${describe(maxDelayMs)}`)
  }
  return { maxBatchSize, maxDelayMs }
}

/**
 * Above this many bytes of other callers' rows, a caller gets a copy of its rows rather than a view: a view keeps the
 * whole batch's output alive as long as any caller holds its part (for a softmax over a large vocabulary, a batch of
 * 32 is megabytes).
 */
const VIEW_SLACK_BYTES = 64 * 1024

/** Rows `from` to `to` of a batch's output: a view where the rest of the batch is small, else a copy. */
function rowsOf(t: Tensor, from: number, to: number): Tensor {
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1)
  const own = t.data.subarray(from * rowLen, to * rowLen)
  const others = (t.data.length - own.length) * t.data.BYTES_PER_ELEMENT
  return tensor(others > VIEW_SLACK_BYTES ? own.slice() : own, [to - from, ...t.shape.slice(1)])
}

/** One tensor of the calls' samples, in order. */
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

/** The queues of one model's calls, by sample shape and dtype, and the batch running. */
export class Batcher {
  /** In the order of their first calls: the oldest runs first. */
  private readonly queues = new Map<string, Queue>()
  private running = 0
  private immediate?: ReturnType<typeof setImmediate>
  private timer?: ReturnType<typeof setTimeout>

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
      if (!q) this.queues.set(key, (q = { calls: [], rows: 0, since: performance.now() }))
      q.calls.push({ x, resolve, reject })
      q.rows += n
      this.schedule()
    })
  }

  /** Runs everything still queued now, whatever is running. */
  flushAll(): void {
    this.cancelWake()
    while (this.queues.size > 0) this.startOne()
  }

  /**
   * Arranges for the next batch to start once the model is free and the oldest queue's first call has waited
   * `maxDelayMs` (or a queue is full): at the end of this event-loop turn for a new call (`now` false), right away
   * when a batch has just ended (`now`: the calls that came meanwhile have been gathering all along).
   */
  private schedule(now = false): void {
    if (this.running >= RUNNING_BATCHES || this.queues.size === 0) return
    let full = false
    for (const q of this.queues.values()) full ||= q.rows >= this.options.maxBatchSize
    const oldest = this.queues.values().next().value as Queue
    const wait = full ? 0 : oldest.since + this.options.maxDelayMs - performance.now()
    if (wait <= 0) {
      if (now) {
        this.cancelWake()
        this.startFree()
        return
      }
      if (this.timer !== undefined) {
        clearTimeout(this.timer)
        this.timer = undefined
      }
      // At the end of this event-loop turn: the calls of requests that arrived together share the batch.
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined
        this.startFree()
      })
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined
        this.startFree()
      }, wait)
    }
  }

  private cancelWake(): void {
    if (this.immediate !== undefined) clearImmediate(this.immediate)
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.immediate = this.timer = undefined
  }

  private startFree(): void {
    while (this.running < RUNNING_BATCHES && this.queues.size > 0) this.startOne()
  }

  /** Runs the oldest queue's first calls, up to `maxBatchSize` rows (the rest stay queued). */
  private startOne(): void {
    const [key, q] = this.queues.entries().next().value as [string, Queue]
    let take = 0
    let rows = 0
    while (take < q.calls.length && (take === 0 || rows + q.calls[take].x.shape[0] <= this.options.maxBatchSize)) rows += q.calls[take++].x.shape[0]
    const calls = q.calls.splice(0, take)
    q.rows -= rows
    // What is left waits behind the younger queues, from now.
    this.queues.delete(key)
    if (q.calls.length > 0) this.queues.set(key, { ...q, since: performance.now() })
    this.running++
    const done = () => {
      this.running--
      // Before the callers hear of their rows: the next batch gets the compute threads while they are answered.
      this.schedule(true)
    }
    if (calls.length === 1) {
      const c = calls[0]
      this.run(c.x).then(
        (out) => {
          done()
          c.resolve(out)
        },
        (e: unknown) => {
          done()
          c.reject(e)
        },
      )
      return
    }
    this.run(concat(calls, rows)).then(
      (out) => {
        done()
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
        const alone = calls.map((c) => this.run(c.x).then(c.resolve, c.reject))
        void Promise.all(alone).then(done)
      },
    )
  }
}
