/**
 * The tutorial models end to end at small sizes: the next-word loop learns the bundled passage, generation steps
 * the state word by word, the sentiment model learns the bundled IMDB sample above chance, and the CLI refuses bad
 * arguments with a clear message.
 */
import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { cosineDecay, generate, historySvg, imdbModel, predictReview, Sequential, tensor, trainImdb, trainWords } from '../src/index.js'
import { create } from 'tar'
import { ensureDist } from './fixtures/dist.js'
import { ROOT, scratchDir } from './helpers.js'

const run = promisify(execFile)
const PASSAGE = readFileSync(join(ROOT, 'data/meditations-5-20.txt'), 'utf8').split(/\s+/).filter(Boolean)

describe('next-word model', () => {
  it('the --embedding schedule: a cosine from the rate to a tenth of it', () => {
    expect(cosineDecay(0.002, 0)).toBeCloseTo(0.002, 12)
    expect(cosineDecay(0.002, 0.5)).toBeCloseTo(0.0011, 12)
    expect(cosineDecay(0.002, 1)).toBeCloseTo(0.0002, 12)
    expect(cosineDecay(0.002, 2)).toBeCloseTo(0.0002, 12)
  })

  it('the tutorial loop (raw float ids, single-sample steps) learns the bundled passage far above chance', async () => {
    const lines: string[] = []
    const r = await trainWords({ units: 64, steps: 6000, numThreads: 2, log: (l) => lines.push(l) })
    expect(r.vocabularySize).toBeGreaterThan(50)
    expect(lines[0]).toMatch(/^Iteration = 1000, Average Accuracy= \d+\.\d\d%/)
    expect(lines).toHaveLength(6)
    // Chance is 1/86; the tutorial's own run is at about 50% after 6,000 steps.
    expect(r.finalAccuracy).toBeGreaterThan(0.4)
    expect(r.reports[r.reports.length - 1].accuracy).toBeGreaterThan(r.reports[0].accuracy + 0.3)
  }, 60_000)

  it('the Embedding variant trains in batches to high accuracy within seconds, and generates reproducibly', async () => {
    const { dir, cleanup } = scratchDir('words')
    try {
      const path = join(dir, 'words.safetensors')
      const r = await trainWords({ units: 64, steps: 6000, embedding: true, numThreads: 2, log: () => {}, save: path })
      expect(r.finalAccuracy).toBeGreaterThan(0.85)
      const model = await Sequential.load(path)
      expect(model.metadata).toMatchObject({ task: 'words', input: 'embedding', training: 'windows', contextLength: 3 })
      const prompt = PASSAGE.slice(0, 3)
      const added = generate(model, { prompt, words: 5 })
      expect(added).toHaveLength(5)
      expect(added[0]).toBe(PASSAGE[3])
      // Greedy generation is deterministic and sampling with a seed is reproducible.
      expect(generate(model, { prompt, words: 5 })).toEqual(added)
      const hot = generate(model, { prompt, words: 8, temperature: 1.5, seed: 7 })
      expect(generate(model, { prompt, words: 8, temperature: 1.5, seed: 7 })).toEqual(hot)
      expect(() => generate(model, { prompt: ['no-such-word'] })).toThrow(/not in the model's vocabulary/)
    } finally {
      cleanup()
    }
  }, 60_000)

  describe('generation follows how the model was trained', () => {
    let model: Sequential
    beforeAll(async () => {
      const r = await trainWords({ units: 64, steps: 12_000, embedding: true, numThreads: 2, log: () => {} })
      expect(r.finalAccuracy).toBeGreaterThanOrEqual(0.95)
      model = r.model
    }, 60_000)

    /** From `start`, the passage's words up to the first whose 3-word context the passage continues in two ways. */
    function unambiguousSpan(start: number): string[] {
      const continuations = new Map<string, Set<string>>()
      for (let i = 0; i + 3 < PASSAGE.length; i++) {
        const key = PASSAGE.slice(i, i + 3).join(' ')
        continuations.set(key, (continuations.get(key) ?? new Set()).add(PASSAGE[i + 3]))
      }
      let end = start + 3
      while (end < PASSAGE.length && continuations.get(PASSAGE.slice(end - 3, end).join(' '))!.size === 1) end++
      return PASSAGE.slice(start + 3, end)
    }

    it('a window model (trained to ≥ 95%) slides its 3-word window: greedy generation regenerates the passage', () => {
      for (const start of [0, 40, 80]) {
        const span = unambiguousSpan(start)
        expect(span.length, `span from word ${start}`).toBeGreaterThanOrEqual(10)
        const added = generate(model, { prompt: PASSAGE.slice(start, start + 3), words: span.length })
        expect(added.join(' '), `from word ${start}`).toBe(span.join(' '))
      }
      // A longer prompt: only its last three words count, as in training.
      expect(generate(model, { prompt: PASSAGE.slice(0, 40 + 3), words: 10 })).toEqual(generate(model, { prompt: PASSAGE.slice(40, 43), words: 10 }))
    })

    it('a file saved without contextLength and training reads as a window model of 3 words (the train words default)', () => {
      const meta = model.metadata
      const expected = generate(model, { prompt: PASSAGE.slice(0, 3), words: 10 })
      try {
        model.metadata = { task: 'words', vocabulary: meta.vocabulary, input: meta.input }
        expect(generate(model, { prompt: PASSAGE.slice(0, 3), words: 10 })).toEqual(expected)
        model.metadata = { ...meta, contextLength: 0 }
        expect(() => generate(model, { prompt: PASSAGE.slice(0, 3) })).toThrow(/contextLength/)
      } finally {
        model.metadata = meta
      }
    })

    it("a model marked training: 'running' steps one LSTM state across the prompt and the generated words", () => {
      const meta = model.metadata
      try {
        model.metadata = { ...meta, training: 'running' }
        const added = generate(model, { prompt: PASSAGE.slice(0, 3), words: 6 })
        const vocabulary = meta.vocabulary as string[]
        const index = new Map(vocabulary.map((w, i) => [w, i]))
        const argmax = (row: ArrayLike<number>) => Array.from(row).reduce((best, v, i, a) => (v > a[best] ? i : best), 0)
        model.resetStates()
        let out = new Float32Array(0) as ArrayLike<number>
        for (const w of PASSAGE.slice(0, 3)) out = model.predictStep(tensor(new Int32Array([index.get(w)!]), [1, 1])).data
        const stepped: string[] = []
        for (let k = 0; k < 6; k++) {
          const next = argmax(out)
          stepped.push(vocabulary[next])
          out = model.predictStep(tensor(new Int32Array([next]), [1, 1])).data
        }
        model.resetStates()
        expect(added).toEqual(stepped)
      } finally {
        model.metadata = meta
      }
    })
  })
})

describe('sentiment model', () => {
  it('learns the bundled IMDB sample above chance and predicts text', async () => {
    const { dir, cleanup } = scratchDir('imdb')
    try {
      const save = join(dir, 'imdb.safetensors')
      const plot = join(dir, 'imdb.svg')
      const lines: string[] = []
      const r = await trainImdb({ epochs: 6, units: 32, embeddingDim: 16, maxlen: 80, validationSplit: 0.1, verbose: 0, numThreads: 2, save, plot, log: (l) => lines.push(l) })
      expect(r.trainSize).toBe(1000)
      expect(r.testSize).toBe(1000)
      expect(lines.at(-1)).toMatch(/^test accuracy: 0\.\d{4}$/)
      expect(r.testAccuracy).toBeGreaterThan(0.6)
      expect(r.history.history.val_loss).toHaveLength(6)
      const svg = readFileSync(plot, 'utf8')
      expect(svg).toContain('<svg')
      expect(svg).toContain('val_accuracy')
      expect(historySvg(r.history)).toBe(svg)
      const model = await Sequential.load(save)
      const good = await predictReview(model, 'A wonderful, moving film. The acting is superb and the story is great. I loved it, one of the best.')
      const bad = await predictReview(model, 'Terrible. The worst movie, boring and awful, a waste of time. Bad acting, bad plot, nothing works.')
      expect(good).toBeGreaterThan(bad)
    } finally {
      cleanup()
    }
  }, 120_000)

  it('with pooling over the LSTM output (max and average) it still learns the sample above chance', async () => {
    for (const pooling of ['max', 'average'] as const) {
      const r = await trainImdb({ epochs: 8, units: 16, embeddingDim: 16, maxlen: 80, pooling, maskZero: true, verbose: 0, numThreads: 2, log: () => {} })
      expect(r.model.summary(() => {})).toContain(pooling === 'max' ? 'GlobalMaxPooling1D' : 'GlobalAveragePooling1D')
      expect(r.testAccuracy).toBeGreaterThan(0.6)
    }
  }, 120_000)

  it('--dropout sets the rate of every dropout in the model', () => {
    const rates = (m: Sequential) => m.layers.flatMap((l) => (l.type === 'dropout' ? [l.rate] : l.type === 'lstm' ? [l.dropout, l.recurrentDropout] : []))
    expect(rates(imdbModel({ numThreads: 1 }))).toEqual([0.2, 0.2, 0.2, 0.2])
    expect(rates(imdbModel({ dropout: 0.5, numThreads: 1 }))).toEqual([0.5, 0.5, 0.5, 0.5])
  })

  it('--cell and --conv: GRU or SimpleRNN in place of the LSTM, and a Conv1D + MaxPooling1D block before it', async () => {
    const types = (m: Sequential) => m.layers.map((l) => l.type)
    expect(types(imdbModel({ cell: 'gru', numThreads: 1 }))).toEqual(['embedding', 'dropout', 'gru', 'dense', 'dropout', 'dense'])
    expect(types(imdbModel({ cell: 'rnn', conv: { filters: 64, kernelSize: 5, poolSize: 4 }, numThreads: 1 }))).toEqual([
      'embedding',
      'dropout',
      'conv1d',
      'maxPooling1d',
      'simpleRnn',
      'dense',
      'dropout',
      'dense',
    ])
    const cnn = imdbModel({ conv: { filters: 64, kernelSize: 5, poolSize: 4 }, numThreads: 1 })
    expect(cnn.layers[2]).toMatchObject({ type: 'conv1d', filters: 64, kernelSize: 5, activation: 'relu' })
    expect(cnn.layers[3]).toMatchObject({ type: 'maxPooling1d', poolSize: 4 })
    expect(cnn.layers[4]).toMatchObject({ type: 'lstm', dropout: 0.2, recurrentDropout: 0.2 })
    expect(() => imdbModel({ cell: 'tcn' as never, numThreads: 1 })).toThrow(/cell must be 'lstm', 'gru' or 'rnn'/)
    const r = await trainImdb({ epochs: 10, units: 16, embeddingDim: 16, maxlen: 80, cell: 'gru', conv: { filters: 16, kernelSize: 3 }, verbose: 0, numThreads: 2, log: () => {} })
    expect(r.model.summary(() => {})).toMatch(/Conv1D[\s\S]*MaxPooling1D[\s\S]*GRU/)
    // The training loss falls well below chance's 0.693, and the 1,000 test reviews are classified above chance
    // (0.58 is five standard deviations above 0.5 at this size; this run reaches about 0.62).
    expect(r.history.history.loss.at(-1)!).toBeLessThan(0.45)
    expect(r.testAccuracy).toBeGreaterThan(0.58)
  }, 120_000)

  it("takes Adam's learning rate, its decay per epoch and clipnorm", async () => {
    const r = await trainImdb({ epochs: 1, units: 8, embeddingDim: 8, maxlen: 20, learningRate: 0.003, clipnorm: 0.5, verbose: 0, numThreads: 1, log: () => {} })
    expect(r.model.getLearningRate()).toBeCloseTo(0.003, 9)
    const decayed = await trainImdb({ epochs: 3, units: 8, embeddingDim: 8, maxlen: 20, learningRate: 0.003, lrDecay: 0.1, verbose: 0, numThreads: 1, log: () => {} })
    expect(decayed.history.history.lr).toEqual([0.003, 0.0003, 0.00003].map((v) => expect.closeTo(v, 9)))
    expect(Number.isFinite(r.testLoss)).toBe(true)
  }, 60_000)
})

describe('CLI', () => {
  const cli = join(ROOT, 'dist/cli.js')
  beforeAll(() => ensureDist(), 150_000)
  const fails = async (args: string[], env?: NodeJS.ProcessEnv) => {
    try {
      await run(process.execPath, [cli, ...args], { env: env ? { ...process.env, ...env } : undefined })
    } catch (e) {
      const err = e as { code: number; stderr: string }
      return err
    }
    throw new Error(`lstm-native ${args.join(' ')} succeeded`)
  }

  it('exits non-zero with a clear message on bad arguments', async () => {
    expect((await fails(['train', 'words', '--steps', 'abc'])).stderr).toMatch(/--steps.*expected an integer/)
    expect((await fails(['train', 'imdb', '--validation-split', '1.5'])).stderr).toMatch(/expected a number in \[0, 1\)/)
    expect((await fails(['train', 'imdb', '--clipnorm', '0'])).stderr).toMatch(/--clipnorm.*expected a number > 0, got "0"/)
    expect((await fails(['train', 'imdb', '--lr-decay', '0'])).stderr).toMatch(/--lr-decay.*expected a number in \(0, 1\], got "0"/)
    expect((await fails(['train', 'imdb', '--dropout', '1'])).stderr).toMatch(/--dropout.*expected a number in \[0, 1\), got "1"/)
    expect((await fails(['train', 'imdb', '--pooling', 'mean'])).stderr).toMatch(/--pooling.*'mean' is invalid.*last, max, average/)
    expect((await fails(['train', 'imdb', '--cell', 'tcn'])).stderr).toMatch(/--cell.*'tcn' is invalid.*lstm, gru, rnn/)
    expect((await fails(['train', 'imdb', '--conv', '64'])).stderr).toMatch(/--conv.*expected FILTERS,KERNEL\[,POOL\]/)
    expect((await fails(['train', 'imdb', '--conv', '64,0,4'])).stderr).toMatch(/--conv.*positive integers, got "64,0,4"/)
    expect((await fails(['train', 'nope'])).stderr).toMatch(/unknown command/)
    expect((await fails(['generate', '--prompt', 'a b c'])).stderr).toMatch(/--model/)
    const missing = await fails(['predict', '--model', '/no/such/model.safetensors', 'great film'])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/IO: .*no\/such\/model/)
  }, 30_000)

  it('train imdb --help lists --cell and --conv', async () => {
    const imdbHelp = await run(process.execPath, [cli, 'train', 'imdb', '--help'])
    expect(imdbHelp.stdout).toMatch(/--cell <kind>/)
    expect(imdbHelp.stdout).toMatch(/--conv <filters,kernel\[,pool\]>/)
  }, 30_000)

  it('train imdb --cell gru --conv trains the CNN+GRU model on the bundled sample', async () => {
    const args = ['train', 'imdb', '--epochs', '1', '--units', '8', '--embedding-dim', '8', '--maxlen', '40', '--cell', 'gru', '--conv', '8,3,2', '--threads', '1']
    const { stdout } = await run(process.execPath, [cli, ...args])
    expect(stdout).toMatch(/test accuracy: 0\.\d{4}/)
    expect(stdout).toMatch(/done in/)
  }, 60_000)


  it('--help lists every command with its options', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help'])
    for (const usage of ['train words', 'train imdb', 'generate', 'predict']) expect(stdout).toContain(`Usage: lstm-native ${usage} [options]`)
    for (const option of ['--embedding', '--context <n>', '--data <path>', '--download', '--maxlen <n>', '--no-shuffle', '--plot <file.svg>', '--temperature <t>', '--model <file>']) {
      expect(stdout).toContain(option)
    }
    expect(stdout).toContain('lstm-native train imdb --help')
  }, 30_000)

  it('checks --save and --plot before training: a missing folder is an IO error within seconds, --plot takes only .svg', async () => {
    const { dir, cleanup } = scratchDir('cli-paths')
    try {
      const timed = async (args: string[]) => {
        const start = performance.now()
        const err = await fails(args)
        return { ...err, ms: performance.now() - start }
      }
      // Each would train for a long while (50,000 steps; 3 epochs) if the path were checked at the end.
      const words = await timed(['train', 'words', '--save', '/no/such/dir/words.safetensors'])
      expect(words.code).not.toBe(0)
      expect(words.stderr).toMatch(/^lstm-native: IO: save: cannot write \/no\/such\/dir\/words\.safetensors: the folder \/no\/such\/dir does not exist/)
      const save = await timed(['train', 'imdb', '--save', '/no/such/dir/imdb.safetensors'])
      expect(save.stderr).toMatch(/IO: save: .*\/no\/such\/dir does not exist/)
      const plot = await timed(['train', 'imdb', '--plot', '/no/such/dir/imdb.svg'])
      expect(plot.stderr).toMatch(/IO: plot: .*\/no\/such\/dir does not exist/)
      const png = await timed(['train', 'imdb', '--plot', join(dir, 'imdb.png')])
      expect(png.stderr).toMatch(/INVALID_ARGUMENT: plot: .*imdb\.png has the extension \.png, but only SVG is written: name the file \*\.svg/)
      const folder = await timed(['train', 'imdb', '--plot', join(dir, 'x.svg'), '--save', dir])
      expect(folder.stderr).toMatch(/IO: save: cannot write .*: it is a folder/)
      for (const r of [words, save, plot, png, folder]) {
        expect(r.code).not.toBe(0)
        // Node's start and loading the addon take a fraction of a second; training would take far longer.
        expect(r.ms).toBeLessThan(5000)
      }
      expect(readdirSync(dir)).toEqual([])
    } finally {
      cleanup()
    }
  }, 60_000)

  it("train imdb without data names the archive's URL and --download", async () => {
    const missing = await fails(['train', 'imdb', '--data', '/no/such/aclImdb_v1.tar.gz'])
    expect(missing.stderr).toMatch(/IO: IMDB data not found: \/no\/such\/aclImdb_v1\.tar\.gz does not exist/)
    expect(missing.stderr).toContain('https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz')
    expect(missing.stderr).toContain('lstm-native train imdb --download')
  }, 30_000)

  it('train imdb --download fetches the archive (here from a local server) into the cache folder, or to --data', async () => {
    const { dir, cleanup } = scratchDir('cli-download')
    const archive = join(dir, 'served.tar.gz')
    await create({ file: archive, cwd: join(ROOT, 'test', 'fixtures', 'imdb-tiny'), gzip: true, portable: true }, ['aclImdb'])
    const bytes = readFileSync(archive)
    let requests = 0
    const server = createServer((request, response) => {
      requests++
      if (request.url !== '/aclImdb_v1.tar.gz') return void response.writeHead(404).end()
      response.writeHead(200, { 'content-length': bytes.length }).end(bytes)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/aclImdb_v1.tar.gz`
      const cache = join(dir, 'cache')
      const small = ['--epochs', '1', '--units', '4', '--embedding-dim', '4', '--maxlen', '20', '--threads', '1']
      const env = { ...process.env, LSTM_NATIVE_CACHE: cache }
      const first = await run(process.execPath, [cli, 'train', 'imdb', '--download', '--url', url, ...small], { env })
      expect(first.stdout).toMatch(/^IMDB: 6 training and 4 test reviews\n/)
      expect(first.stdout).toMatch(/test accuracy: \d\.\d{4}\n/)
      expect(first.stderr).toContain(`downloading ${url}`)
      expect(readFileSync(join(cache, 'aclImdb_v1.tar.gz'))).toEqual(bytes)
      expect(requests).toBe(1)
      // Found in the cache the next time: no second request.
      await run(process.execPath, [cli, 'train', 'imdb', '--download', '--url', url, ...small], { env })
      expect(requests).toBe(1)
      // With --data naming a file that is not there yet, the archive goes there.
      const target = join(dir, 'here', 'aclImdb_v1.tar.gz')
      mkdirSync(join(dir, 'here'))
      const second = await run(process.execPath, [cli, 'train', 'imdb', '--data', target, '--download', '--url', url, ...small], { env })
      expect(second.stdout).toMatch(/^IMDB: 6 training and 4 test reviews\n/)
      expect(readFileSync(target)).toEqual(bytes)
      expect(requests).toBe(2)
      // A failed download is an IO error naming the URL.
      const failed = await fails(['train', 'imdb', '--data', join(dir, 'here', 'other.tar.gz'), '--download', '--url', `${url}.missing`], { LSTM_NATIVE_CACHE: cache })
      expect(failed.stderr).toMatch(/IO: download of .*\.missing failed: HTTP 404/)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      cleanup()
    }
  }, 60_000)

  it("generate continues the Quick start's window model along the passage; the last line is the prompt and the new words", async () => {
    const { dir, cleanup } = scratchDir('cli-generate')
    try {
      const model = join(dir, 'words.safetensors')
      await run(process.execPath, [cli, 'train', 'words', '--embedding', '--units', '64', '--steps', '12000', '--threads', '2', '--save', model])
      const prompt = PASSAGE.slice(0, 3).join(' ')
      const { stdout } = await run(process.execPath, [cli, 'generate', '--model', model, '--prompt', prompt, '--words', '11'])
      // Up to "so far as", which the passage continues in two ways.
      expect(stdout.trimEnd().split('\n').at(-1)).toBe(PASSAGE.slice(0, 14).join(' '))
    } finally {
      cleanup()
    }
  }, 60_000)
})
