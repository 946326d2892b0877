/**
 * `lstm-native serve`: one model behind TensorFlow Serving's REST API, on `node:http`.
 *
 *   POST /v1/models/NAME:predict  { "instances": [...] }  →  { "predictions": [...] }
 *   GET  /v1/models/NAME          the model's summary and metadata
 *   GET  /healthz                 { "status": "ok", ... }
 *
 * Every answer is JSON; every error is `{ "error": { "code", "message" } }` with the library's error code for bad
 * input (400) and one of the codes below for the HTTP-level refusals. Concurrent single-instance requests are
 * coalesced into native batches by `Sequential.enableBatching`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { basename, extname } from 'node:path'
import { backend } from './backend.js'
import { LstmError } from './errors.js'
import { loadModel, type Sequential } from './model.js'
import { type ImdbModelMetadata, reviewEncoder } from './tasks/imdb.js'
import { forecast, type SeriesModelMetadata, seriesMetadata } from './tasks/series.js'
import { type Tensor, tensor } from './tensor.js'
import { padSequences } from './text.js'
import { checkInt, describe, optionsOf } from './validate.js'

/** Options of {@link serveModel}; the CLI's flags of the same names. */
export interface ServeOptions {
  /** The model file (`.safetensors`, as `Sequential.save` writes it). */
  model: string
  /** The name in the URL. Default: the file's base name without its extension. */
  name?: string
  /** The address to listen on. Default `'127.0.0.1'` (this machine only). */
  host?: string
  /** The port; 0 picks a free one. Default 8080. */
  port?: number
  /** The most instances one native batch takes; 1 turns batching off. Default 32. */
  maxBatch?: number
  /** How long a batch waits for more instances when the model is free, in milliseconds. Default 2. */
  maxDelayMs?: number
  /** A request not answered in this many milliseconds is answered 504. Default 30,000. */
  timeoutMs?: number
  /** The largest request body, in bytes; larger is 413. Default 1 MiB. */
  maxBodyBytes?: number
  /** The most instances one request may carry. Default 1,024. */
  maxInstances?: number
  /** The most requests waiting for their predictions; beyond, 503 with `Retry-After`. Default 1,024. */
  maxQueue?: number
  /** The most compute threads the model uses. Default: one per core. */
  numThreads?: number
  /** Where the startup line and, with `verbose`, a line per request go. Default `console.log`. */
  log?: (line: string) => void
  /** A log line per request. Default false. */
  verbose?: boolean
}

/** A running server, from {@link serveModel}. */
export interface ModelServer {
  /** `http://HOST:PORT`. */
  readonly url: string
  /** The model's name in the URLs. */
  readonly name: string
  /** The model being served. */
  readonly model: Sequential
  /** Stops accepting connections, answers what is in flight, then resolves. */
  close(): Promise<void>
}

/** The HTTP-level error codes of the server, besides the library's (`INVALID_ARGUMENT`, `INDEX_OUT_OF_RANGE`, ...). */
type HttpCode = 'NOT_FOUND' | 'METHOD_NOT_ALLOWED' | 'PAYLOAD_TOO_LARGE' | 'OVERLOADED' | 'TIMEOUT' | 'SHUTTING_DOWN'

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpCode | LstmError['code'],
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** The status of a library error: bad input is the client's fault (400); a busy or full model is temporary (503). */
function statusOf(e: LstmError): number {
  switch (e.code) {
    case 'INDEX_OUT_OF_RANGE':
    case 'INVALID_ARGUMENT':
    case 'NON_FINITE':
    case 'SHAPE_MISMATCH':
      return 400
    case 'MODEL_BUSY':
    case 'OUT_OF_MEMORY':
      return 503
    default:
      return 500
  }
}

/** How instances become model input: token ids (with text when a vocabulary travels with the model), floats, or a forecasting model's histories in raw units. */
interface Encoder {
  kind: 'tokens' | 'floats' | 'series'
  /** A forecasting model's metadata: its instances are histories in raw units, forecast through its scalers. */
  series?: SeriesModelMetadata
  /** Token ids of a text, when the model carries a vocabulary. */
  encode?: (text: string) => number[]
  /** The token range (an embedding's inputDim). */
  inputDim?: number
  /** Features per step of a float model. */
  features?: number
  /** The length every token sequence is padded or cut to, as in training. */
  maxlen?: number
}

function encoderOf(model: Sequential): Encoder {
  const first = model.layers[0] as { type: string; inputDim?: number; inputShape?: (number | null)[] }
  if (first.type === 'embedding') {
    const m = model.metadata as Partial<ImdbModelMetadata>
    const encode = m.task === 'imdb' && Array.isArray(m.words) ? reviewEncoder({ ...m, words: m.words }) : undefined
    const maxlen = typeof m.maxlen === 'number' ? m.maxlen : undefined
    return { kind: 'tokens', encode, inputDim: first.inputDim, maxlen }
  }
  if ((model.metadata as { task?: unknown }).task === 'series') {
    const series = seriesMetadata(model)
    return { kind: 'series', series, features: 1 + series.features.length }
  }
  const shape = first.inputShape
  return { kind: 'floats', features: shape ? (shape[shape.length - 1] ?? undefined) : undefined }
}

/** One instance as token ids: an array of integers in range, or text through the model's vocabulary. */
function tokensOf(enc: Encoder, inst: unknown, i: number): number[] {
  if (typeof inst === 'string') {
    if (!enc.encode) throw new LstmError('INVALID_ARGUMENT', `instances[${i}] is text, but this model carries no vocabulary: send token ids`)
    return enc.encode(inst)
  }
  if (!Array.isArray(inst) || inst.length === 0) {
    throw new LstmError('INVALID_ARGUMENT', `instances[${i}] must be a non-empty array of token ids${enc.encode ? ' or a text' : ''}, got ${describe(inst)}`)
  }
  for (let k = 0; k < inst.length; k++) {
    const id: unknown = inst[k]
    if (typeof id !== 'number' || !Number.isInteger(id)) throw new LstmError('INVALID_ARGUMENT', `instances[${i}][${k}] must be an integer token id, got ${describe(id)}`)
    if (id < 0 || (enc.inputDim !== undefined && id >= enc.inputDim)) {
      throw new LstmError('INDEX_OUT_OF_RANGE', `instances[${i}][${k}] is token id ${id}, outside [0, ${enc.inputDim}) (the embedding's inputDim)`)
    }
  }
  return inst as number[]
}

/** One instance of a float model as `[steps, features]` numbers (a flat array of numbers: one feature per step). */
function floatsOf(enc: Encoder, inst: unknown, i: number): { data: number[]; steps: number } {
  if (!Array.isArray(inst) || inst.length === 0) throw new LstmError('INVALID_ARGUMENT', `instances[${i}] must be a non-empty array of steps, got ${describe(inst)}`)
  const f = enc.features ?? (Array.isArray(inst[0]) ? inst[0].length : 1)
  const data: number[] = []
  inst.forEach((step: unknown, t) => {
    const values = Array.isArray(step) ? step : [step]
    if (values.length !== f) throw new LstmError('SHAPE_MISMATCH', `instances[${i}][${t}] has ${values.length} features, expected ${f}`)
    for (const v of values) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new LstmError('INVALID_ARGUMENT', `instances[${i}][${t}] must hold finite numbers, got ${describe(v)}`)
      data.push(v)
    }
  })
  return { data, steps: inst.length }
}

/**
 * The request's instances as tensors of equal sequence length, with the index of each instance's first row.
 * Token sequences are padded and cut to the model's `maxlen` the way it was trained (at the start); without a
 * `maxlen`, instances of different lengths run as separate batches.
 */
function inputsOf(enc: Encoder, instances: unknown[]): { x: Tensor; rows: number[] }[] {
  const groups = new Map<number, { rows: number[]; items: number[][] }>()
  const add = (len: number, i: number, item: number[]) => {
    let g = groups.get(len)
    if (!g) groups.set(len, (g = { rows: [], items: [] }))
    g.rows.push(i)
    g.items.push(item)
  }
  instances.forEach((inst, i) => {
    if (enc.kind === 'tokens') {
      const ids = tokensOf(enc, inst, i)
      add(enc.maxlen ?? ids.length, i, ids)
    } else {
      const { data, steps } = floatsOf(enc, inst, i)
      add(steps, i, data)
    }
  })
  return [...groups].map(([len, g]) => {
    if (enc.kind === 'tokens') return { x: padSequences(g.items, { maxlen: len }), rows: g.rows }
    const f = g.items[0].length / len
    return { x: tensor(Float32Array.from(g.items.flat()), [g.items.length, len, f]), rows: g.rows }
  })
}

/**
 * A forecasting model's instances as histories by column: each instance is a history, oldest step first, in the
 * file's own units (a number per step for a model of the target alone, else `[target, ...features]` per step).
 */
function historiesOf(enc: Encoder, instances: unknown[]): Record<string, Float32Array>[] {
  const m = enc.series!
  const names = [m.target, ...m.features]
  return instances.map((inst, i) => {
    const { data, steps } = floatsOf(enc, inst, i)
    return Object.fromEntries(names.map((name, f) => [name, Float32Array.from({ length: steps }, (_, t) => data[t * names.length + f])]))
  })
}

/**
 * Each history's next `horizon` values in the file's units, through the scalers and target transform saved with the
 * model (`forecast`); concurrent forecasts share the model's batches.
 */
function forecasts(model: Sequential, horizon: number, histories: Record<string, Float32Array>[]): Promise<number[][]> {
  return Promise.all(histories.map(async (h) => Array.from(await forecast(model, h, horizon))))
}

/** The rows of an output tensor as nested arrays (a `[B, 1]` output gives `[p]` per instance, as TF Serving). */
function rowsOf(t: Tensor): number[][] {
  const rowLen = t.shape.slice(1).reduce((a, b) => a * b, 1)
  const out: number[][] = []
  for (let r = 0; r < t.shape[0]; r++) out.push(Array.from(t.data.subarray(r * rowLen, (r + 1) * rowLen)))
  return out
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

function sendError(res: ServerResponse, e: unknown): number {
  const err =
    e instanceof HttpError
      ? e
      : e instanceof LstmError
        ? new HttpError(statusOf(e), e.code, e.message)
        : new HttpError(500, 'INTERNAL', e instanceof Error ? e.message : String(e))
  send(res, err.status, { error: { code: err.code, message: err.message } }, err.headers)
  return err.status
}

/**
 * How many bytes of a refused body are read and dropped after the 413. A server that closes the connection with the
 * client still sending makes the client's TCP stack see a reset, often before it reads the 413; reading the rest lets
 * the answer arrive and keeps the connection for the next request. A body beyond this is cut off with the connection.
 */
const DRAIN_BYTES = 64 << 20

/** The request body, refused past `limit` bytes (413); the rest of a refused body is read and dropped. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (what: string, drainable: boolean) => {
      reject(new HttpError(413, 'PAYLOAD_TOO_LARGE', `the body is ${what}`, drainable ? {} : { connection: 'close' }))
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > limit) {
      // Node reads and drops the unread body of a finished exchange before it parses the next request.
      tooLarge(`${declared} bytes, more than the limit of ${limit}`, declared - limit <= DRAIN_BYTES)
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    const keep = (c: Buffer) => {
      size += c.length
      if (size <= limit) {
        chunks.push(c)
        return
      }
      chunks.length = 0
      req.off('data', keep)
      let dropped = size - limit
      req.on('data', (more: Buffer) => {
        dropped += more.length
        if (dropped > DRAIN_BYTES) req.socket.destroy()
      })
      tooLarge(`more than the limit of ${limit} bytes`, true)
    }
    req.on('data', keep)
    req.on('end', () => resolve(Buffer.concat(chunks, size)))
    req.on('error', reject)
  })
}

function checkedOptions(options: ServeOptions) {
  const o = optionsOf('serveModel()', options)
  if (typeof o.model !== 'string') throw new LstmError('INVALID_ARGUMENT', `serveModel(): model must be a file path, got ${describe(o.model)}`)
  const name = o.name ?? basename(o.model, extname(o.model))
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new LstmError('INVALID_ARGUMENT', `serveModel(): name must be letters, digits, '.', '_' or '-', got ${describe(name)}`)
  }
  const host = o.host ?? '127.0.0.1'
  if (typeof host !== 'string') throw new LstmError('INVALID_ARGUMENT', `serveModel(): host must be a string, got ${describe(host)}`)
  return {
    model: o.model,
    name,
    host,
    port: checkInt('port', o.port ?? 8080, 0, 65535),
    maxBatch: checkInt('maxBatch', o.maxBatch ?? 32, 1),
    maxDelayMs: o.maxDelayMs ?? 2,
    timeoutMs: checkInt('timeoutMs', o.timeoutMs ?? 30_000, 1),
    maxBodyBytes: checkInt('maxBodyBytes', o.maxBodyBytes ?? 1 << 20, 1),
    maxInstances: checkInt('maxInstances', o.maxInstances ?? 1024, 1),
    maxQueue: checkInt('maxQueue', o.maxQueue ?? 1024, 1),
    numThreads: o.numThreads,
    log: o.log ?? ((line: string) => console.log(line)),
    verbose: o.verbose ?? false,
  }
}

/** The longest gap between the ticks of a 5 ms timer since the last reset: how long the event loop was held. */
class LoopMonitor {
  maxGapMs = 0
  private last = performance.now()
  private readonly timer = setInterval(() => {
    const now = performance.now()
    this.maxGapMs = Math.max(this.maxGapMs, now - this.last)
    this.last = now
  }, 5)
  constructor() {
    this.timer.unref()
  }
  reset(): number {
    const gap = this.maxGapMs
    this.maxGapMs = 0
    this.last = performance.now()
    return gap
  }
  stop(): void {
    clearInterval(this.timer)
  }
}

/**
 * Serves a saved model over HTTP (TensorFlow Serving's REST API); resolves once it listens. `lstm-native serve`
 * runs this, and stops it on SIGTERM or SIGINT.
 */
export async function serveModel(options: ServeOptions): Promise<ModelServer> {
  const o = checkedOptions(options)
  const model = await loadModel(o.model, o.numThreads === undefined ? undefined : { numThreads: o.numThreads })
  if (o.maxBatch > 1) model.enableBatching({ maxBatchSize: o.maxBatch, maxDelayMs: o.maxDelayMs })
  const enc = encoderOf(model)
  const summary = model.summary(() => {})
  const predictPath = `/v1/models/${o.name}:predict`
  const modelPath = `/v1/models/${o.name}`
  const monitor = new LoopMonitor()
  let waiting = 0
  let inFlight = 0
  let closing = false
  let drained: (() => void) | undefined

  const info = () => {
    const { words, ...metadata } = model.metadata as Record<string, unknown>
    return {
      model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
      name: o.name,
      summary,
      input: { kind: enc.kind, text: Boolean(enc.encode), maxlen: enc.maxlen ?? null, inputDim: enc.inputDim ?? null, features: enc.features ?? null },
      metadata: { ...metadata, ...(Array.isArray(words) ? { vocabularySize: words.length } : {}) },
      batching: model.batching ?? null,
    }
  }

  const predict = async (req: IncomingMessage): Promise<unknown> => {
    const body = await readBody(req, o.maxBodyBytes)
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch (e) {
      throw new LstmError('INVALID_ARGUMENT', `the body is not JSON: ${(e as Error).message}`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Array.isArray((parsed as { instances?: unknown }).instances)) {
      throw new LstmError('INVALID_ARGUMENT', 'the body must be a JSON object with an "instances" array')
    }
    const instances = (parsed as { instances: unknown[] }).instances
    if (instances.length === 0 || instances.length > o.maxInstances) {
      throw new LstmError('INVALID_ARGUMENT', `"instances" must hold 1 to ${o.maxInstances} instances, got ${instances.length}`)
    }
    const histories = enc.kind === 'series' ? historiesOf(enc, instances) : []
    const groups = enc.kind === 'series' ? [] : inputsOf(enc, instances)
    if (waiting >= o.maxQueue) {
      throw new HttpError(503, 'OVERLOADED', `${waiting} requests are waiting, the most this server queues; retry shortly`, { 'retry-after': '1' })
    }
    waiting++
    try {
      if (enc.kind === 'series') return { predictions: await forecasts(model, enc.series!.horizon, histories) }
      const predictions: number[][] = new Array(instances.length)
      await Promise.all(
        groups.map(async (g) => {
          const out = await model.predict(g.x, { batchSize: Math.max(1, g.x.shape[0]) })
          rowsOf(out).forEach((row, k) => (predictions[g.rows[k]] = row))
        }),
      )
      return { predictions }
    } finally {
      waiting--
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const url = (req.url ?? '/').split('?')[0]
    if (closing) throw new HttpError(503, 'SHUTTING_DOWN', 'the server is shutting down', { connection: 'close' })
    if (url === predictPath) {
      if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${url} takes POST`, { allow: 'POST' })
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(504, 'TIMEOUT', `no answer within ${o.timeoutMs} ms`)), o.timeoutMs)
      })
      try {
        send(res, 200, await Promise.race([predict(req), timeout]))
      } finally {
        clearTimeout(timer)
      }
      return 200
    }
    if (url !== modelPath && url !== '/healthz') {
      throw new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${url}; this server answers POST ${predictPath}, GET ${modelPath} and GET /healthz`)
    }
    if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${url} takes GET`, { allow: 'GET' })
    // `?reset` starts a new measurement of the event loop's longest gap (the bench reads one per load level).
    if (url === modelPath) send(res, 200, info())
    else send(res, 200, { status: 'ok', waiting, inFlight, eventLoopMaxGapMs: (req.url ?? '').includes('?reset') ? monitor.reset() : monitor.maxGapMs })
    return 200
  }

  const server: Server = createServer((req, res) => {
    const start = performance.now()
    inFlight++
    handle(req, res)
      .catch((e: unknown) => sendError(res, e))
      .then((status) => {
        if (o.verbose) o.log(`${new Date().toISOString()} ${req.method} ${req.url} ${status} ${(performance.now() - start).toFixed(1)}ms`)
      })
      .finally(() => {
        inFlight--
        if (closing && inFlight === 0) drained?.()
      })
  })
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new LstmError('IO', `cannot listen on ${o.host}:${o.port}: ${e.message}`, { cause: e })))
    server.listen(o.port, o.host, () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : o.port
  const host = o.host.includes(':') ? `[${o.host}]` : o.host
  const url = `http://${host}:${port}`
  const params = summary.match(/Total params: ([\d,]+)/)?.[1] ?? '?'
  o.log(
    `lstm-native serve: ${url}${predictPath} (model ${o.name}: ${model.layers.map((l) => l.type).join(' → ')}, ${params} params; ` +
      `input ${enc.kind}${enc.encode ? ' or text' : ''}${enc.maxlen ? `, maxlen ${enc.maxlen}` : ''}; SIMD ${backend().simd}; ` +
      `batching ${model.batching ? `${model.batching.maxBatchSize} × ${model.batching.maxDelayMs} ms` : 'off'})`,
  )

  const close = async (): Promise<void> => {
    if (closing) return
    closing = true
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeIdleConnections()
    if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve))
    server.closeAllConnections()
    await stopped
    monitor.stop()
  }
  return { url, name: o.name, model, close }
}
