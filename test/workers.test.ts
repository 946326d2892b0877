/**
 * lstm-native inside worker_threads: a Worker that imports the built package (dist/index.js) can create, train,
 * evaluate, predict, save and load a model; several Workers can train at once (while the main thread trains too),
 * each posting back its final loss, and then end by themselves with exit code 0. Training is deterministic across
 * threads: a Worker's losses equal the main thread's for the same seed, bit for bit. A Worker terminated in the
 * middle of `fit` takes its native training with it, and the process carries on.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as lib from '../src/index.js'
import { DIST_CJS, ensureDist } from './fixtures/dist.js'
import { type ToyOptions, type ToyResult, trainToy } from './fixtures/toy-train.mjs'
import { scratchDir, sleep } from './helpers.js'

const WORKER = join(__dirname, 'fixtures', 'train-worker.mjs')
const { dir: scratch, cleanup } = scratchDir('workers')
afterAll(cleanup)

beforeAll(async () => {
  const state = await ensureDist()
  if (state === 'rebuilt') console.warn('[workers] dist/ was missing or older than src/: rebuilt it with npm run build:ts')
}, 150_000)

interface Run {
  worker: Worker
  started: Promise<void>
  result: Promise<ToyResult>
  exit: Promise<number>
}

/** Starts a training Worker; `result` rejects on a worker error, `exit` resolves with its exit code. */
function startWorker(options: ToyOptions): Run {
  const worker = new Worker(WORKER, { workerData: { entry: DIST_CJS, ...options } })
  let started!: () => void
  const startedP = new Promise<void>((r) => (started = r))
  const result = new Promise<ToyResult>((resolve, reject) => {
    worker.on('message', (m: { type: string; result?: ToyResult }) => {
      if (m.type === 'started') started()
      if (m.type === 'done') resolve(m.result as ToyResult)
    })
    worker.on('error', reject)
    worker.on('exit', (code) => reject(new Error(`worker exited (code ${code}) before posting its result`)))
  })
  const exit = new Promise<number>((resolve) => worker.on('exit', resolve))
  return { worker, started: startedP, result, exit }
}

/** Resolves with the exit code, or rejects if the worker does not end by itself within `ms`. */
async function exitsWithin(run: Run, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the worker did not exit within ${ms} ms after posting its result (something keeps its event loop alive)`)), ms)
  })
  try {
    return await Promise.race([run.exit, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * This process's threads: the native ones of lstm-native models (a compute pool thread per `numThreads`, and the
 * model's worker thread, all named `lstm-native-*`) and the others (Node's, and each Worker's JS thread). Linux only
 * (/proc): elsewhere it returns zeros, so the thread checks pass vacuously and the rest still runs.
 */
function threads(): { lstm: number; other: number } {
  if (!existsSync('/proc/self/task')) return { lstm: 0, other: 0 }
  const names = readdirSync('/proc/self/task').map((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()
    } catch {
      return '' // the thread ended while we looked
    }
  })
  const lstm = names.filter((n) => n.startsWith('lstm-native')).length
  return { lstm, other: names.filter(Boolean).length - lstm }
}

describe('worker_threads', () => {
  it('one Worker creates, trains, evaluates, predicts, saves and loads a model, then exits with code 0', { timeout: 60_000 }, async () => {
    const file = join(scratch, 'from-worker.safetensors')
    const run = startWorker({ seed: 3, epochs: 6, save: file, progress: true })
    const r = await run.result
    expect(await exitsWithin(run, 10_000)).toBe(0)
    expect(r.threadId).toBeGreaterThan(0) // it really ran off the main thread
    expect(r.losses).toHaveLength(6)
    expect(r.losses.every(Number.isFinite)).toBe(true)
    expect(r.losses[5]).toBeLessThan(r.losses[0])
    expect(r.accuracy).toBeGreaterThan(0.8)
    expect(r.predictions).toHaveLength(4)
    expect(r.progressWrites).toBeGreaterThan(0) // batch progress reached the worker's JS thread
    // The worker's save/load round trip, and the main thread loading the file the worker wrote.
    expect(r.reloaded).toEqual(r.predictions)
    const model = await lib.Sequential.load(file, { numThreads: 1 })
    expect(Array.from(model.predictSync(lib.tensor(Int32Array.from(r.probe), [4, 10])).data)).toEqual(r.predictions)
  })

  it('three Workers train at once, alongside the main thread; each posts its final loss and exits with code 0', { timeout: 60_000 }, async () => {
    const before = threads()
    const runs = [11, 12, 13].map((seed) => startWorker({ seed, epochs: 8 }))
    // The main thread trains seed 11 at the same time, from src/: the same losses, bit for bit, as its worker.
    const mainRun = trainToy(lib, { seed: 11, epochs: 8 })
    const results = await Promise.all(runs.map((r) => r.result))
    const codes = await Promise.all(runs.map((r) => exitsWithin(r, 10_000)))
    const main = await mainRun
    const finals = results.map((r) => r.losses[r.losses.length - 1])
    console.log(`[workers] final losses of the 3 workers: ${finals.map((l) => l.toFixed(5)).join(', ')}; main thread (seed 11): ${main.losses[7].toFixed(5)}`)
    expect(codes).toEqual([0, 0, 0])
    expect(new Set(results.map((r) => r.threadId)).size).toBe(3)
    for (const r of results) {
      expect(r.losses).toHaveLength(8)
      expect(r.losses.every(Number.isFinite)).toBe(true)
      expect(r.losses[7]).toBeLessThan(r.losses[0])
    }
    expect(results[0].losses).toEqual(main.losses)
    expect(results[0].predictions).toEqual(main.predictions)
    expect(results[1].losses).not.toEqual(results[0].losses) // different seeds really trained differently
    // The workers' threads (each: its JS thread, and its model's 2 native threads) are gone. The main thread's model
    // is still alive here (not yet collected) and keeps its 2 native threads.
    await sleep(100)
    const after = threads()
    console.log(`[workers] threads: ${JSON.stringify(before)} before the 3 workers, ${JSON.stringify(after)} after they exited`)
    expect(after.lstm).toBeLessThanOrEqual(before.lstm + 2)
    expect(after.other).toBeLessThanOrEqual(before.other + 1)
  })

  it('terminating a Worker in the middle of fit stops its training; the process and other models carry on', { timeout: 60_000 }, async () => {
    const before = threads()
    const run = startWorker({ seed: 5, epochs: 100_000, n: 1024 })
    run.result.catch(() => {}) // it is terminated before it has a result
    await run.started
    await sleep(400) // well inside fit
    expect(await run.worker.terminate()).toBe(1)
    // No native training left running: the process idles.
    const cpu0 = process.cpuUsage()
    await sleep(1000)
    const cpu = process.cpuUsage(cpu0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    const after = threads()
    console.log(`[workers] CPU time in the 1 s after terminate(): ${cpuMs.toFixed(0)} ms; threads ${JSON.stringify(before)} before, ${JSON.stringify(after)} after`)
    expect(cpuMs).toBeLessThan(400)
    expect(after.lstm).toBeLessThanOrEqual(before.lstm)
    expect(after.other).toBeLessThanOrEqual(before.other + 1)
    // A new worker, and the main thread, still train.
    const again = startWorker({ seed: 6, epochs: 2 })
    expect((await again.result).losses).toHaveLength(2)
    expect(await exitsWithin(again, 10_000)).toBe(0)
    expect((await trainToy(lib, { seed: 6, epochs: 2 })).losses).toHaveLength(2)
  })
})
