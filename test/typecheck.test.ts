/**
 * The public types, checked by the compiler: `tsc --noEmit` over test/types/example.ts (a strict program using the
 * API, with `@ts-expect-error` on deliberate mistakes such as a wrong option name). A second run over a copy without
 * those directives proves each marked line really is a type error, so the check cannot pass vacuously. A third
 * checks the built declarations as a consumer sees them: through package.json's exports (ESM gets dist/index.d.mts,
 * CommonJS dist/index.d.ts), in a project without @types/node.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ensureDist } from './fixtures/dist.js'
import { ROOT, scratchDir } from './helpers.js'

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const EXAMPLE = join(ROOT, 'test', 'types', 'example.ts')
const { dir: scratch, cleanup } = scratchDir('types')
afterAll(cleanup)

function tsc(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, ...args], { cwd: ROOT, timeout: 90_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, out: stdout + stderr })
    })
  })
}

describe.concurrent('types', () => {
  it('tsc --noEmit accepts the strict example program (and really checked it)', { timeout: 90_000 }, async () => {
    const r = await tsc(['--noEmit', '-p', join(ROOT, 'test', 'types', 'tsconfig.json'), '--listFiles'])
    expect(r.out.split('\n').filter((l) => l.includes('error TS'))).toEqual([])
    expect(r.code).toBe(0)
    const files = r.out.split('\n').map((l) => l.trim())
    expect(files).toContain(EXAMPLE)
    expect(files).toContain(join(ROOT, 'src', 'model.ts'))
  })

  it('each @ts-expect-error in the example marks a real type error', { timeout: 90_000 }, async () => {
    const lines = readFileSync(EXAMPLE, 'utf8').split('\n')
    const expected: number[] = []
    const mutated = lines.map((line, i) => {
      if (!line.trim().startsWith('// @ts-expect-error')) return line.replace("'../../src/index.js'", JSON.stringify(join(ROOT, 'src', 'index.js')))
      expected.push(i + 2) // 1-based number of the line after the directive
      return ''
    })
    expect(expected.length).toBeGreaterThanOrEqual(5)
    const file = join(scratch, 'example-without-directives.ts')
    writeFileSync(file, mutated.join('\n'))
    const config = join(scratch, 'tsconfig.json')
    writeFileSync(
      config,
      JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), compilerOptions: { noEmit: true, typeRoots: [join(ROOT, 'node_modules', '@types')] }, files: [file] }),
    )
    const r = await tsc(['-p', config])
    expect(r.code).not.toBe(0)
    const errors = [...r.out.matchAll(/^(.*)\((\d+),\d+\): error (TS\d+): (.*)$/gm)].map((m) => ({ file: m[1], line: Number(m[2]), code: m[3], text: m[4] }))
    // Errors only in the copy, one or more on each formerly marked line and nowhere else.
    expect(errors.every((e) => e.file.endsWith('example-without-directives.ts')), r.out).toBe(true)
    expect([...new Set(errors.map((e) => e.line))].sort((a, b) => a - b)).toEqual(expected)
    // The wrong option names are caught as unknown properties, naming the option (TS2561 "Did you mean…").
    expect(errors.some((e) => e.code === 'TS2561' && e.text.includes("'epoch'"))).toBe(true)
    expect(errors.some((e) => e.code === 'TS2561' && e.text.includes("'unit'"))).toBe(true)
  })

  it('a project without @types/node type-checks against the package: ESM gets index.d.mts, CommonJS index.d.ts', { timeout: 150_000 }, async () => {
    await ensureDist()
    const app = join(scratch, 'consumer')
    mkdirSync(join(app, 'node_modules'), { recursive: true })
    symlinkSync(ROOT, join(app, 'node_modules', 'lstm-native'), 'dir')
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
    const body = [
      "const model = new Sequential([layers.embedding({ inputDim: 10, outputDim: 4 }), layers.lstm({ units: 3 }), layers.dense({ units: 1, activation: 'sigmoid' })])",
      "model.compile({ loss: 'binaryCrossentropy', optimizer: 'adam', metrics: ['accuracy'] })",
      'const controller = { aborted: false, addEventListener() {}, removeEventListener() {} }',
      'export const fitted = model.fit(tensor(new Int32Array(6), [2, 3]), tensor(new Float32Array(2), [2, 1]), { epochs: 1, verbose: 0, signal: controller })',
      'export const data = datasets.imdb.load({ sample: true, shuffle: false, seed: 113 })',
      "export const summary: string = model.summary(() => {})",
    ].join('\n')
    writeFileSync(join(app, 'esm.mts'), `import { Sequential, datasets, layers, tensor } from 'lstm-native'\n${body}\n`)
    writeFileSync(join(app, 'cjs.cts'), `import { Sequential, datasets, layers, tensor } from 'lstm-native'\n${body}\n`)
    // No @types/node, no DOM: only the ES2022 library. skipLibCheck off, so the declarations themselves are checked.
    const compilerOptions = { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2022'], types: [], skipLibCheck: false }
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['esm.mts', 'cjs.cts'] }))
    const r = await tsc(['-p', join(app, 'tsconfig.json'), '--listFiles'])
    expect(r.out.split('\n').filter((l) => l.includes('error TS')), r.out).toEqual([])
    expect(r.code).toBe(0)
    const files = r.out.split('\n').map((l) => l.trim())
    expect(files).toContain(join(ROOT, 'dist', 'index.d.mts'))
    expect(files).toContain(join(ROOT, 'dist', 'index.d.ts'))
    expect(files.some((f) => f.includes('@types/node'))).toBe(false)
  })
})
