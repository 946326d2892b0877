/**
 * `lstm-native serve` / `serveModel`: TensorFlow Serving's REST body in and out (token ids and text through the
 * model's vocabulary, padded as in training), the model's metadata and health routes, every limit answered with its
 * status and a JSON error body carrying a code (400 with the library's codes, 413, 503 with Retry-After, 504), a
 * short soak mixing bad requests, and the CLI: startup line, a log line per request, SIGTERM drains and exits 0.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import http from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ModelServer, layers, padSequences, Sequential, serveModel } from '../src/index.js'
import { reviewWords } from '../src/tasks/imdb.js'
import { ensureDist, ROOT } from './fixtures/dist.js'
import { scratchDir } from './helpers.js'

const { dir, cleanup } = scratchDir('serve')
const FILE = join(dir, 'sentiment.safetensors')
const WORDS = ['the', 'movie', 'was', 'great', 'bad', 'plot', 'acting', 'good', 'awful', 'film']
const META = { task: 'imdb', maxlen: 12, startChar: 1, oovChar: 2, indexFrom: 3, words: WORDS }
let model: Sequential

beforeAll(async () => {
  model = new Sequential([layers.embedding({ inputDim: 13, outputDim: 6 }), layers.lstm({ units: 8 }), layers.dense({ units: 1, activation: 'sigmoid' })], { seed: 4 })
  model.metadata = META
  await model.save(FILE)
})
afterAll(cleanup)

/** What the model says for token ids, padded as the server pads them. */
async function expected(ids: number[][]): Promise<number[]> {
  return Array.from((await model.predict(padSequences(ids, { maxlen: META.maxlen }))).data)
}

function idsOf(text: string): number[] {
  return [1, ...reviewWords(text).map((w) => (WORDS.includes(w) ? WORDS.indexOf(w) + 3 : 2))]
}

async function post(server: ModelServer, body: string, path = `/v1/models/${server.name}:predict`) {
  const res = await fetch(server.url + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
  return { status: res.status, headers: res.headers, body: (await res.json()) as { predictions?: number[][]; error?: { code: string; message: string } } }
}

describe('serveModel', () => {
  let server: ModelServer
  const lines: string[] = []
  beforeAll(async () => {
    server = await serveModel({ model: FILE, port: 0, maxBodyBytes: 4000, log: (l) => lines.push(l), verbose: true })
  })
  afterAll(() => server.close())

  it('listens on 127.0.0.1 and prints the URL, the model and the SIMD level', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.name).toBe('sentiment')
    expect(lines[0]).toContain(`${server.url}/v1/models/sentiment:predict`)
    expect(lines[0]).toMatch(/SIMD (scalar|avx2|avx512)/)
    expect(lines[0]).toContain('embedding → lstm → dense')
  })

  it('answers token ids and text with the predictions of the model, padded as trained', async () => {
    const text = 'The movie was GREAT, the acting good'
    const r = await post(server, JSON.stringify({ instances: [[3, 4, 5], text, [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 4, 5, 6]] }))
    expect(r.status).toBe(200)
    const want = await expected([[3, 4, 5], idsOf(text), [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 4, 5, 6]])
    expect(r.body.predictions!.map((p) => p.length)).toEqual([1, 1, 1])
    r.body.predictions!.forEach((p, i) => expect(Math.abs(p[0] - want[i])).toBeLessThanOrEqual(1e-6))
    expect(lines.some((l) => /POST \/v1\/models\/sentiment:predict 200 [\d.]+ms/.test(l))).toBe(true)
  })

  it('describes the model and its health', async () => {
    const info = (await (await fetch(`${server.url}/v1/models/sentiment`)).json()) as Record<string, any>
    expect(info.name).toBe('sentiment')
    expect(info.summary).toContain('Total params')
    expect(info.input).toEqual({ kind: 'tokens', text: true, maxlen: 12, inputDim: 13, features: null })
    expect(info.metadata.vocabularySize).toBe(WORDS.length)
    expect(info.batching).toEqual({ maxBatchSize: 32, maxDelayMs: 2 })
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as Record<string, unknown>
    expect(health.status).toBe('ok')
    expect(typeof health.eventLoopMaxGapMs).toBe('number')
  })

  it.each([
    ['malformed JSON', '{"instances": [[1, 2]', 400, 'INVALID_ARGUMENT', /not JSON/],
    ['no instances', '{"inputs": [[1]]}', 400, 'INVALID_ARGUMENT', /"instances" array/],
    ['an id out of range', '{"instances": [[1, 2, 13]]}', 400, 'INDEX_OUT_OF_RANGE', /token id 13/],
    ['a negative id', '{"instances": [[-1]]}', 400, 'INDEX_OUT_OF_RANGE', /token id -1/],
    ['a float id', '{"instances": [[1.5]]}', 400, 'INVALID_ARGUMENT', /integer token id/],
    ['a wrong type', '{"instances": [{"a": 1}]}', 400, 'INVALID_ARGUMENT', /instances\[0\]/],
    ['an empty instance list', '{"instances": []}', 400, 'INVALID_ARGUMENT', /1 to 1024/],
    ['an oversized body', JSON.stringify({ instances: [Array(3000).fill(1)] }), 413, 'PAYLOAD_TOO_LARGE', /limit of 4000/],
  ])('%s: the status and a JSON error with its code', async (_what, body, status, code, message) => {
    const r = await post(server, body)
    expect(r.status).toBe(status)
    expect(r.body.error!.code).toBe(code)
    expect(r.body.error!.message).toMatch(message)
  })

  it('a large refused body, declared or chunked, gets its 413 and leaves the keep-alive connection usable', async () => {
    // 2 MB is far beyond the socket buffers: a server that closed the connection without reading the rest would make
    // the client see a reset instead of the 413, and the next request would need a new connection.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const big = JSON.stringify({ instances: [Array(1_000_000).fill(1)] })
    const request = (body: string, chunked: boolean) =>
      new Promise<{ status: number; body: { error?: { code: string }; predictions?: number[][] }; reused: boolean }>((resolve, reject) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (!chunked) headers['content-length'] = String(Buffer.byteLength(body))
        const req = http.request(`${server.url}/v1/models/sentiment:predict`, { method: 'POST', agent, headers }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (text += c))
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), reused: req.reusedSocket }))
        })
        req.on('error', reject)
        if (chunked) {
          for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.slice(at, at + 64 * 1024))
          req.end()
        } else req.end(body)
      })
    try {
      const first = await request(JSON.stringify({ instances: [[3, 4, 5]] }), false)
      expect(first.status).toBe(200)
      for (const chunked of [false, true, false, true]) {
        const refused = await request(big, chunked)
        expect(refused.status).toBe(413)
        expect(refused.body.error!.code).toBe('PAYLOAD_TOO_LARGE')
        expect(refused.reused).toBe(true)
        const after = await request(JSON.stringify({ instances: [[3, 4, 5]] }), chunked)
        expect(after.status).toBe(200)
        expect(after.reused).toBe(true)
        expect(Math.abs(after.body.predictions![0][0] - (await expected([[3, 4, 5]]))[0])).toBeLessThanOrEqual(1e-6)
      }
    } finally {
      agent.destroy()
    }
  })

  it('unknown routes and methods are 404 and 405', async () => {
    const missing = await post(server, '{}', '/v1/models/other:predict')
    expect(missing.status).toBe(404)
    expect(missing.body.error!.code).toBe('NOT_FOUND')
    const r = await fetch(`${server.url}/v1/models/sentiment:predict`)
    expect(r.status).toBe(405)
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED')
  })

  it('a short soak: 2,000 requests, 10% bad, every good one answered correctly and every bad one a 4xx with a code', async () => {
    const good = Array.from({ length: 20 }, (_, i) => [1 + (i % 12), 3 + (i % 9), 5, 7 + (i % 5)])
    const want = await expected(good)
    const bad = ['{"instances": [[1, 2', JSON.stringify({ instances: [[99]] }), JSON.stringify({ instances: 'x' }), JSON.stringify({ instances: [Array(3000).fill(1)] })]
    let next = 0
    let wrong = 0
    const worker = async () => {
      while (next < 2000) {
        const i = next++
        if (i % 10 === 0) {
          const r = await post(server, bad[(i / 10) % bad.length])
          if (!(r.status >= 400 && r.status < 500 && typeof r.body.error?.code === 'string')) wrong++
        } else {
          const r = await post(server, JSON.stringify({ instances: [good[i % good.length]] }))
          if (r.status !== 200 || Math.abs(r.body.predictions![0][0] - want[i % good.length]) > 1e-6) wrong++
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
    expect(wrong).toBe(0)
  }, 120_000)
})

describe('limits', () => {
  it('a full queue is 503 with Retry-After; a slow answer is 504', async () => {
    const server = await serveModel({ model: FILE, port: 0, maxDelayMs: 300, maxQueue: 2, log: () => {} })
    try {
      const body = JSON.stringify({ instances: [[3, 4]] })
      const rs = await Promise.all([post(server, body), post(server, body), post(server, body)])
      const statuses = rs.map((r) => r.status).sort()
      expect(statuses).toEqual([200, 200, 503])
      const refused = rs.find((r) => r.status === 503)!
      expect(refused.headers.get('retry-after')).toBe('1')
      expect(refused.body.error!.code).toBe('OVERLOADED')
    } finally {
      await server.close()
    }
    const slow = await serveModel({ model: FILE, port: 0, maxDelayMs: 500, timeoutMs: 50, log: () => {} })
    try {
      const r = await post(slow, JSON.stringify({ instances: [[3, 4]] }))
      expect(r.status).toBe(504)
      expect(r.body.error!.code).toBe('TIMEOUT')
    } finally {
      await slow.close()
    }
  }, 30_000)
})

describe('lstm-native serve', () => {
  beforeAll(async () => {
    await ensureDist()
  }, 150_000)

  it('on SIGTERM answers the requests in flight, then exits 0', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'serve', '--model', FILE, '--port', '0', '--max-delay-ms', '400', '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (out += c))
    while (!/http:\/\/127\.0\.0\.1:\d+/.test(out)) {
      if (child.exitCode !== null) throw new Error(`serve exited: ${out}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]
    // The request waits 400 ms for its batch to fill: SIGTERM arrives while it is in flight.
    const pending = fetch(`${url}/v1/models/sentiment:predict`, { method: 'POST', body: JSON.stringify({ instances: [[3, 4, 5]] }) })
    await new Promise((r) => setTimeout(r, 150))
    child.kill('SIGTERM')
    const res = await pending
    expect(res.status).toBe(200)
    const body = (await res.json()) as { predictions: number[][] }
    expect(Math.abs(body.predictions[0][0] - (await expected([[3, 4, 5]]))[0])).toBeLessThanOrEqual(1e-6)
    const [code] = await once(child, 'exit')
    expect(code).toBe(0)
    expect(out).toMatch(/POST \/v1\/models\/sentiment:predict 200/)
    expect(out).toMatch(/stopping/)
  }, 60_000)
})
