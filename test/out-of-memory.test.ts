/**
 * Memory exhaustion is an `LstmError` with code `OUT_OF_MEMORY`, never an abort: a child process whose address space
 * is capped (`ulimit -v`) trains, predicts and evaluates an LSTM(1024) on 1024 sequences of 2,000 steps (the
 * activations alone are tens of GB), and passes a tensor whose copy cannot fit. Each call rejects with the bytes and
 * what they were for, the weights are unchanged, and the same model then trains and predicts small batches; the
 * child exits normally. Linux only (`ulimit -v`, /proc).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { DIST_ESM_URL, ensureDist } from './fixtures/dist.js'

const CHILD = join(__dirname, 'fixtures', 'oom-child.mjs')
/** KiB: room for Node and small calls, far too little for the large ones. */
const CAP_KIB = 4_000_000

beforeAll(() => ensureDist(), 150_000)

describe.runIf(process.platform === 'linux')('OUT_OF_MEMORY', () => {
  it('rejects calls whose buffers cannot fit, and the model stays usable', () => {
    const run = spawnSync('bash', ['-c', `ulimit -v ${CAP_KIB} && exec "$0" "$1" "$2"`, process.execPath, CHILD, DIST_ESM_URL], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 120_000,
    })
    const detail = `status ${run.status}, signal ${run.signal}\n${run.stdout}\n${run.stderr}`
    expect(run.signal, detail).toBeNull()
    expect(run.status, detail).toBe(0)
    const results = Object.fromEntries(
      run.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .map((r) => [r.call, r]),
    )
    for (const call of ['fit', 'predict', 'evaluate']) {
      expect(results[call], call).toMatchObject({ code: 'OUT_OF_MEMORY', name: 'LstmError' })
      expect(results[call].message, call).toMatch(/cannot allocate \d{10,} bytes for the .* of layer 0 \(lstm\)/)
    }
    expect(results.unchanged).toMatchObject({ ok: true, same: true })
    expect(results.copy).toMatchObject({ code: 'OUT_OF_MEMORY', name: 'LstmError' })
    expect(results.copy.message).toMatch(/cannot allocate \d+ bytes for a copy of a tensor of shape \[\d+, 1, 1\]/)
    expect(results['small fit'].ok, detail).toBe(true)
    expect(results['small fit'].loss).toHaveLength(3)
    expect(results['small fit'].loss.every(Number.isFinite)).toBe(true)
    expect(results['small predict']).toMatchObject({ ok: true, shape: [4, 20, 1], finite: true })
  }, 150_000)
})
