/**
 * Atomic saves: a child process saves version after version of a 4.75 MB model to one path, and is SIGKILLed at
 * random moments, half of them inside a save (right after it announces one). After every kill the file at the path
 * is either absent (no save had finished yet) or a complete file that `Sequential.load` reads, whose weights are
 * exactly one version the child saved: the last one it finished, or the one it was writing when killed. Never a
 * torn or truncated file, never an older version than the last finished save.
 *
 * `save` writes a temporary file beside the target (`.model.safetensors.<pid>-<nonce>.tmp`), syncs it and renames it
 * over the target. A kill before the rename leaves that temporary file behind: such strays may remain, and this
 * test checks that they are the only other files in the folder and that they never take the target's place. The
 * next save to the path removes the strays of writers that are gone: once a child has finished a save, the only
 * stray left can be its own (the one it was writing when killed).
 * POSIX only: it relies on rename(2) replacing the target atomically and on SIGKILL.
 */
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as lib from '../src/index.js'
import { DIST_ESM_URL, ensureDist } from './fixtures/dist.js'
import { versionedModel, versionWeights } from './fixtures/versioned-model.mjs'
import { scratchDir } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('atomic-save')
afterAll(cleanup)
const TARGET = join(scratch, 'model.safetensors')
const STRAY = /^\.model\.safetensors\.\d+-\d+\.tmp$/
const CHILD = join(__dirname, 'fixtures', 'save-loop.mjs')
const KILLS = 10

beforeAll(() => ensureDist(), 150_000)

type When = { kind: 'after-ready'; ms: number } | { kind: 'inside-save'; saves: number; ms: number }

interface Killed {
  pid: number
  saving: number[]
  saved: number[]
  signal: NodeJS.Signals | null
  stderr: string
}

/** Starts the save loop at version `first` and SIGKILLs it `when`; resolves once it is dead. */
function runAndKill(first: number, when: When): Promise<Killed> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, DIST_ESM_URL, TARGET, String(first)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    const saving: number[] = []
    const saved: number[] = []
    let stderr = ''
    let buffered = ''
    let armed = false
    const kill = (ms: number) => {
      if (armed) return
      armed = true
      setTimeout(() => child.kill('SIGKILL'), ms)
    }
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const [word, v] = line.split(' ')
        if (word === 'ready' && when.kind === 'after-ready') kill(when.ms)
        if (word === 'saving') {
          saving.push(Number(v))
          if (when.kind === 'inside-save' && saving.length === when.saves) kill(when.ms)
        }
        if (word === 'saved') saved.push(Number(v))
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (_code, signal) => {
      clearTimeout(guard)
      for (const line of buffered.split('\n')) if (line.startsWith('saved ')) saved.push(Number(line.split(' ')[1]))
      resolve({ pid: child.pid ?? -1, saving, saved, signal, stderr })
    })
  })
}

function sameBits(a: lib.Tensor, b: lib.Tensor): boolean {
  const bytes = (t: lib.Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)
  return a.shape.join() === b.shape.join() && bytes(a).equals(bytes(b))
}

describe.skipIf(process.platform === 'win32')('save is atomic under SIGKILL', () => {
  it(`${KILLS} kills at random moments never leave a broken or mixed file at the path`, { timeout: 120_000 }, async () => {
    const template = versionedModel(lib).getWeights()
    let onDisk: number | undefined // the version at the path, as last checked
    const outcomes: string[] = []
    let insideSave = 0
    for (let run = 0; run < KILLS; run++) {
      // Runs 0 and 5 start with no file at the path; the others over the previous run's file.
      if (run === 0 || run === 5) {
        rmSync(TARGET, { force: true })
        onDisk = undefined
      }
      // Even runs: killed 0-12 ms after announcing their 1st-3rd save (inside it: a save takes ~15-40 ms here);
      // odd runs: killed 0-700 ms after the model is ready (run 5: at once, before any save can finish).
      const when: When =
        run % 2 === 0
          ? { kind: 'inside-save', saves: 1 + Math.floor(Math.random() * 3), ms: Math.floor(Math.random() * 13) }
          : { kind: 'after-ready', ms: run === 5 ? 0 : Math.floor(Math.random() * 700) }
      const first = run * 1000 + 1
      const r = await runAndKill(first, when)
      expect(r.signal, `the child was not killed: ${r.stderr}`).toBe('SIGKILL')
      const lastSaved = r.saved.length ? r.saved[r.saved.length - 1] : onDisk
      const inFlight = r.saving.find((v) => !r.saved.includes(v))
      if (inFlight !== undefined) insideSave++

      // Beside the target, nothing but stray temporary files of killed saves.
      const others = readdirSync(scratch).filter((f) => f !== 'model.safetensors')
      for (const f of others) expect(f, `unexpected file ${f} beside the target`).toMatch(STRAY)
      // Its first save removed the strays of the children killed before it.
      if (r.saved.length > 0) for (const f of others) expect(f, `a stray of a dead writer outlived a save by process ${r.pid}`).toMatch(new RegExp(`^\\.model\\.safetensors\\.${r.pid}-`))

      let outcome: string
      if (!existsSync(TARGET)) {
        expect(lastSaved, `the file is gone, but version ${lastSaved} had been saved`).toBeUndefined()
        outcome = 'absent'
        onDisk = undefined
      } else {
        expect(statSync(TARGET).isFile()).toBe(true)
        const model = await lib.Sequential.load(TARGET, { numThreads: 1 })
        const version = model.metadata.version as number
        expect([lastSaved, inFlight], `version ${version} at the path`).toContain(version)
        const weights = model.getWeights()
        const expected = versionWeights(lib, template, version)
        expect(Object.keys(weights).sort()).toEqual(Object.keys(expected).sort())
        for (const name of Object.keys(expected)) expect(sameBits(weights[name], expected[name]), `${name} of version ${version}`).toBe(true)
        outcome = version === inFlight ? `v${version} (the save in flight had renamed)` : version === onDisk ? `v${version} (kept)` : `v${version}`
        onDisk = version
      }
      const moment = when.kind === 'inside-save' ? `${when.ms} ms into save #${when.saves}` : `${when.ms} ms after ready`
      outcomes.push(`kill ${run + 1} (${moment}; ${r.saved.length} saves finished${inFlight !== undefined ? `, v${inFlight} in flight` : ''}): ${outcome}; ${others.length} stray tmp`)
    }
    const strays = readdirSync(scratch).filter((f) => STRAY.test(f)).length
    console.log(`[atomic-save] ${KILLS} kills, ${insideSave} inside a save; ${strays} stray temporary files left\n  ${outcomes.join('\n  ')}`)
    // The random moments must really have caught saves in the act, or this test proved little.
    expect(insideSave).toBeGreaterThanOrEqual(3)
  })
})
