/**
 * No leaks: 10,000 predictSync and 1,000 predict calls on one model, and 200 create-compile-fit-predict-discard
 * cycles of tiny models, must each grow the resident memory (RSS) by less than 5% after a warm-up, and discarded
 * models must give back their native threads. Measured in a child process (`node --expose-gc`, the built package),
 * so that garbage collection can be forced and nothing of vitest's is counted; see test/fixtures/leaks-child.mjs.
 * Linux only: the warm-up and the 5% bound were measured with glibc's allocator (other platforms' RSS behaves
 * differently, and release.yml runs this suite on macOS and Windows too).
 */
import { execFile } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DIST_ESM_URL, ensureDist } from './fixtures/dist.js'

interface Sample {
  rss: number
  heapUsed: number
  external: number
  /** null where there is no /proc/self/task */
  threads: number | null
  lstmThreads: number | null
}
interface Phase {
  baseline: Sample
  samples: Sample[]
  after: number
  growth: number
  ms: number
}
interface Report {
  predict: Phase & { calls: { predictSync: number; predict: number } }
  cycles: Phase & { cycles: number; warmup: number }
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`

function describePhase(name: string, p: Phase): string {
  return `${name}: RSS ${MB(p.baseline.rss)} after warm-up → ${p.samples.map((s) => MB(s.rss)).join(', ')} (${(p.growth * 100).toFixed(2)}%, ${p.ms} ms); lstm-native threads ${p.baseline.lstmThreads} → ${p.samples[p.samples.length - 1].lstmThreads}`
}

const LINUX = process.platform === 'linux'
let report: Report

beforeAll(async () => {
  if (!LINUX) return
  await ensureDist()
  report = await new Promise<Report>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', join(__dirname, 'fixtures', 'leaks-child.mjs'), DIST_ESM_URL],
      { timeout: 50_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`leaks-child.mjs failed: ${err.message}\n${stderr}`))
        try {
          resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as Report)
        } catch (e) {
          reject(new Error(`leaks-child.mjs printed no JSON: ${String(e)}\n${stdout}\n${stderr}`))
        }
      },
    )
  })
  console.log(`[leaks] ${describePhase(`${report.predict.calls.predictSync} predictSync + ${report.predict.calls.predict} predict`, report.predict)}`)
  console.log(`[leaks] ${describePhase(`${report.cycles.cycles} create-fit-discard cycles (after ${report.cycles.warmup} of warm-up)`, report.cycles)}`)
}, 180_000)

describe.skipIf(!LINUX)('resident memory (Linux)', () => {
  it('10,000 predictSync and 1,000 predict calls grow RSS by less than 5% after warm-up', () => {
    expect(report.predict.calls.predictSync).toBe(10_000)
    expect(report.predict.growth).toBeLessThan(0.05)
    // The JS heap does not keep the outputs either.
    expect(report.predict.samples[report.predict.samples.length - 1].heapUsed).toBeLessThan(report.predict.baseline.heapUsed * 1.5 + 2 ** 20)
  })

  it('200 create-compile-fit-discard cycles grow RSS by less than 5% after warm-up', () => {
    expect(report.cycles.cycles).toBe(200)
    expect(report.cycles.growth).toBeLessThan(0.05)
  })

  it('discarded models give back their native threads', () => {
    // Models share the process's threads: the compute pool (one per core) and the two job lanes (at most
    // two threads each) bound them whatever the number of models; 200 leaked models would be hundreds.
    const cores = availableParallelism()
    for (const s of report.cycles.samples) expect(s.lstmThreads).toBeLessThanOrEqual(cores + 4)
    expect(report.cycles.samples[report.cycles.samples.length - 1].threads).toBeLessThanOrEqual((report.cycles.baseline.threads ?? Number.NaN) + 1)
  })
})
