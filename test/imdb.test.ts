import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from 'tar'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { downloadFile } from '../src/datasets/download.js'
import { IMDB_ARCHIVE_NAME, load, loadPadded, type ImdbData, type ImdbLoadOptions } from '../src/datasets/imdb.js'
import { tensor } from '../src/tensor.js'
import { padSequences } from '../src/text.js'
import { longestGap } from './helpers.js'
import { NumpyRandomState } from '../src/datasets/numpy-random.js'
import { LstmError } from '../src/errors.js'

const FIXTURE = join(__dirname, 'fixtures', 'imdb-tiny')
const scratch = mkdtempSync(join(tmpdir(), 'lstm-native-imdb-'))
let counter = 0
/** A fresh empty folder under the test's scratch folder. */
function freshDir(name: string): string {
  const dir = join(scratch, `${name}-${++counter}`)
  mkdirSync(dir, { recursive: true })
  return dir
}

/** Pack `root/aclImdb` as a gzipped tar, in the official archive's layout (directories included). */
async function packArchive(root: string, out: string): Promise<string> {
  await create({ file: out, cwd: root, gzip: true, portable: true }, ['aclImdb'])
  return out
}

let fixtureArchive: string
const previousCacheEnv = process.env.LSTM_NATIVE_CACHE
beforeAll(async () => {
  // Nothing in these tests may touch the user's ~/.cache.
  process.env.LSTM_NATIVE_CACHE = freshDir('default-cache')
  fixtureArchive = await packArchive(FIXTURE, join(freshDir('archive'), IMDB_ARCHIVE_NAME))
})
afterAll(() => {
  if (previousCacheEnv === undefined) delete process.env.LSTM_NATIVE_CACHE
  else process.env.LSTM_NATIVE_CACHE = previousCacheEnv
  rmSync(scratch, { recursive: true, force: true })
})

/** Load with a cache folder of its own unless one is given; in file order (the order these tests check) unless asked. */
function loadFresh(options: ImdbLoadOptions): Promise<ImdbData> {
  return load({ cacheDir: freshDir('cache'), shuffle: false, ...options })
}

async function expectLoadError(options: ImdbLoadOptions, code: string, message: RegExp): Promise<LstmError> {
  const error = await loadFresh(options).then(
    () => undefined,
    (err: unknown) => err,
  )
  expect(error).toBeInstanceOf(LstmError)
  expect((error as LstmError).code).toBe(code)
  expect((error as LstmError).message).toMatch(message)
  return error as LstmError
}

/**
 * shared/anchors/prep_imdb.py transcribed, on review files: reviews sorted by "pos|neg/NAME", words ranked by
 * (-training count, word) from 3, 1 = start, 2 = unknown. The loader must agree with it on any input.
 */
function referenceEncoding(root: string) {
  const tokens = (text: string) => text.toLowerCase().replaceAll('<br />', ' ').match(/[a-z0-9']+/g) ?? []
  const read = (split: string) =>
    ['neg', 'pos']
      .flatMap((label) =>
        readdirSync(join(root, 'aclImdb', split, label))
          .filter((name) => name.endsWith('.txt'))
          .map((name) => ({ key: `${label}/${name}`, label: label === 'pos' ? 1 : 0, file: join(root, 'aclImdb', split, label, name) })),
      )
      .sort((a, b) => (a.key < b.key ? -1 : 1))
      .map((review) => ({ ...review, words: tokens(readFileSync(review.file).toString('utf8')) }))
  const train = read('train')
  const test = read('test')
  const counts = new Map<string, number>()
  for (const review of train) for (const word of review.words) counts.set(word, (counts.get(word) ?? 0) + 1)
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([word]) => word)
  const wordIndex = new Map(ranked.map((word, rank) => [word, rank + 3]))
  const encode = (reviews: typeof train) => reviews.map((review) => [1, ...review.words.map((word) => wordIndex.get(word) ?? 2)])
  return { xTrain: encode(train), yTrain: train.map((r) => r.label), xTest: encode(test), yTest: test.map((r) => r.label), wordIndex }
}

describe('imdb.load on the official layout', () => {
  it('reads the archive like prep_imdb.py: order, labels, ids ranked by training frequency', async () => {
    const data = await loadFresh({ path: fixtureArchive })
    // Training counts: a 4, great 4 (tie: alphabetical), bad 3, film 3, then the words seen twice.
    expect(data.wordIndex.get('a')).toBe(3)
    expect(data.wordIndex.get('great')).toBe(4)
    expect(data.wordIndex.get('bad')).toBe(5)
    expect(data.wordIndex.get('film')).toBe(6)
    expect(data.wordIndex.get('acting')).toBe(7)
    expect(data.wordIndex.has('br')).toBe(false) // "<br />" and "<BR />" are blanks
    expect(data.wordIndex.has('unexpectedword')).toBe(false) // only in a test review
    // neg before pos, file names in string order (10_2 < 1_1), the unsup/ review and other files ignored.
    expect(Array.from(data.yTrain)).toEqual([0, 0, 0, 1, 1, 1])
    expect(Array.from(data.yTest)).toEqual([0, 0, 1, 1])
    expect(data.xTrain[0]).toEqual([1, 3, 5, 11, 5, 7, 5, 12]) // neg/0_2: "A bad movie. Bad acting, bad story."
    expect(data.xTest[0]).toEqual([1, 5, 5, 5]) // neg/0_1: "Bad, bad, bad."
    expect(data.xTest[3]).toEqual([1, 3, 8, 12, 2, 2, 2]) // pos/5_7: "A good story with unexpectedword twists."

    const reference = referenceEncoding(FIXTURE)
    expect(data.xTrain).toEqual(reference.xTrain)
    expect(data.xTest).toEqual(reference.xTest)
    expect(data.wordIndex).toEqual(reference.wordIndex)
  })

  it('reads the extracted folder, given the aclImdb folder or the folder holding it', async () => {
    const fromArchive = await loadFresh({ path: fixtureArchive })
    expect(await loadFresh({ path: FIXTURE })).toEqual(fromArchive)
    expect(await loadFresh({ path: join(FIXTURE, 'aclImdb') })).toEqual(fromArchive)
    // A folder holding the archive (such as the cache folder) works too.
    expect(await loadFresh({ path: join(fixtureArchive, '..') })).toEqual(fromArchive)
  })

  it('reads the bundled sample: 1,000 + 1,000 balanced reviews', async () => {
    const data = await loadFresh({ sample: true, numWords: 1000 })
    expect(data.xTrain.length).toBe(1000)
    expect(data.xTest.length).toBe(1000)
    expect(data.yTrain.reduce((a, b) => a + b, 0)).toBe(500)
    expect(data.yTest.reduce((a, b) => a + b, 0)).toBe(500)
    expect(data.wordIndex.get('the')).toBe(3)
    for (const sequence of [...data.xTrain, ...data.xTest]) {
      expect(sequence[0]).toBe(1)
      expect(Math.max(...sequence)).toBeLessThan(1000)
    }
  })

  it('tokenizes like the reference on awkward text: case, tags, apostrophes, digits, non-ASCII, bad UTF-8', async () => {
    const root = freshDir('awkward')
    const texts: Record<string, (string | Buffer)[]> = {
      'train/pos': [
        "İSTANBUL's 5\u212Aelvin <BR />run<br/>Don't <br />stop'' caf\u00e9 na\u00efve",
        'ÀB\u00dfC x\u2019y <Br />br br',
      ],
      'train/neg': [Buffer.from([0x61, 0xff, 0x62, 0x20, 0xc4, 0xb0, 0x78, 0x20, 0xe2, 0x84, 0xaa, 0x6f]), 'trailing word'],
      'test/pos': ['\u212Ailo, İi'],
      'test/neg': ['<br /><br />'],
    }
    for (const [folder, reviews] of Object.entries(texts)) {
      mkdirSync(join(root, 'aclImdb', folder), { recursive: true })
      reviews.forEach((text, i) => writeFileSync(join(root, 'aclImdb', folder, `${i}_5.txt`), text))
    }
    const reference = referenceEncoding(root)
    const fromFolder = await loadFresh({ path: root })
    expect(fromFolder.xTrain).toEqual(reference.xTrain)
    expect(fromFolder.xTest).toEqual(reference.xTest)
    expect(fromFolder.wordIndex).toEqual(reference.wordIndex)
    expect(fromFolder.xTest[0]).toEqual([1]) // only "<br />": no word at all
    const fromArchive = await loadFresh({ path: await packArchive(root, join(root, 'awkward.tar.gz')) })
    expect(fromArchive).toEqual(fromFolder)
  })
})

describe('imdb.load options (Keras load_data)', () => {
  it('numWords turns ids >= numWords into oovChar; oovChar null drops them', async () => {
    const all = await loadFresh({ path: fixtureArchive })
    const cut = await loadFresh({ path: fixtureArchive, numWords: 6 })
    expect(cut.xTrain[0]).toEqual([1, 3, 5, 2, 5, 2, 5, 2])
    expect(cut.wordIndex).toEqual(all.wordIndex) // the index still lists every word
    const dropped = await loadFresh({ path: fixtureArchive, numWords: 6, oovChar: null })
    expect(dropped.xTrain[0]).toEqual([1, 3, 5, 5, 5])
  })

  it('skipTop treats the most frequent words as unknown', async () => {
    const data = await loadFresh({ path: fixtureArchive, skipTop: 2 })
    expect(data.xTrain[0]).toEqual([1, 2, 5, 11, 5, 7, 5, 12]) // "a" (rank 0) goes, "bad" (rank 2) stays
  })

  it('startChar, oovChar and indexFrom move the ids', async () => {
    const data = await loadFresh({ path: fixtureArchive, startChar: null, oovChar: 1, indexFrom: 2 })
    expect(data.xTrain[0]).toEqual([2, 4, 10, 4, 6, 4, 11])
    expect(data.xTest[3]).toEqual([2, 7, 11, 1, 1, 1])
    expect(data.wordIndex.get('a')).toBe(2)
  })

  it('maxlen drops the sequences that are maxlen long or longer, start mark included', async () => {
    const all = await loadFresh({ path: fixtureArchive })
    const data = await loadFresh({ path: fixtureArchive, maxlen: 8 })
    const kept = (xs: number[][]) => xs.filter((x) => x.length < 8)
    expect(data.xTrain).toEqual(kept(all.xTrain))
    expect(data.xTest).toEqual(kept(all.xTest))
    expect(data.yTrain.length).toBe(data.xTrain.length)
    expect(data.xTrain.length).toBeLessThan(all.xTrain.length)
    await expectLoadError({ path: fixtureArchive, maxlen: 2 }, 'INVALID_ARGUMENT', /maxlen=2/)
  })

  it("shuffles by default with Keras' permutation: numpy RandomState(113), train then test", async () => {
    const ordered = await loadFresh({ path: fixtureArchive })
    const shuffled = await load({ path: fixtureArchive, cacheDir: freshDir('cache') })
    const random = new NumpyRandomState(113)
    const trainOrder = random.shuffle(Array.from({ length: ordered.xTrain.length }, (_, i) => i))
    const testOrder = random.shuffle(Array.from({ length: ordered.xTest.length }, (_, i) => i))
    expect(trainOrder).not.toEqual([...trainOrder].sort())
    expect(shuffled.xTrain).toEqual(trainOrder.map((i) => ordered.xTrain[i]))
    expect(Array.from(shuffled.yTrain)).toEqual(trainOrder.map((i) => ordered.yTrain[i]))
    expect(shuffled.xTest).toEqual(testOrder.map((i) => ordered.xTest[i]))
    expect(Array.from(shuffled.yTest)).toEqual(testOrder.map((i) => ordered.yTest[i]))
    expect(shuffled.wordIndex).toEqual(ordered.wordIndex)
    expect(await loadFresh({ path: fixtureArchive, shuffle: true, seed: 113 })).toEqual(shuffled)
  })

  it('seed changes the permutation; shuffling comes before the maxlen filter, as in Keras', async () => {
    const ordered = await loadFresh({ path: fixtureArchive })
    const other = await loadFresh({ path: fixtureArchive, shuffle: true, seed: 7 })
    const random = new NumpyRandomState(7)
    const trainOrder = random.shuffle(Array.from({ length: ordered.xTrain.length }, (_, i) => i))
    expect(other.xTrain).toEqual(trainOrder.map((i) => ordered.xTrain[i]))
    const short = await loadFresh({ path: fixtureArchive, shuffle: true, seed: 7, maxlen: 8 })
    expect(short.xTrain).toEqual(other.xTrain.filter((x) => x.length < 8))
  })

  it('the bundled sample comes shuffled: the last tenth (validationSplit: 0.1) holds both classes', async () => {
    const data = await loadFresh({ sample: true, numWords: 1000, shuffle: true })
    const tail = Array.from(data.yTrain.subarray(900))
    expect(tail.filter((y) => y === 1).length).toBeGreaterThan(30)
    expect(tail.filter((y) => y === 0).length).toBeGreaterThan(30)
    const ordered = await loadFresh({ sample: true, numWords: 1000 })
    expect(Array.from(ordered.yTrain.subarray(900))).toEqual(new Array(100).fill(1))
  })

  it('rejects bad options', async () => {
    await expectLoadError({ path: fixtureArchive, numWords: 0 }, 'INVALID_ARGUMENT', /numWords/)
    await expectLoadError({ path: fixtureArchive, skipTop: -1 }, 'INVALID_ARGUMENT', /skipTop/)
    await expectLoadError({ path: fixtureArchive, maxlen: 1.5 }, 'INVALID_ARGUMENT', /maxlen/)
    await expectLoadError({ path: fixtureArchive, seed: -1 }, 'INVALID_ARGUMENT', /seed/)
    await expectLoadError({ path: fixtureArchive, seed: 2 ** 32 }, 'INVALID_ARGUMENT', /seed must be an integer in \[0, 4294967295\], got 4294967296/)
    await expectLoadError({ path: fixtureArchive, shuffle: 'yes' as unknown as boolean }, 'INVALID_ARGUMENT', /shuffle/)
    await expectLoadError({ path: fixtureArchive, sample: true }, 'INVALID_ARGUMENT', /either path or sample/)
  })
})

describe('imdb.loadPadded', () => {
  it('gives the tensors padSequences makes of load, for every encoding option', async () => {
    const cases: [ImdbLoadOptions, number][] = [
      [{ path: fixtureArchive }, 6],
      [{ path: fixtureArchive }, 40],
      [{ path: fixtureArchive, numWords: 6, oovChar: null }, 5],
      [{ path: fixtureArchive, skipTop: 2, startChar: null, oovChar: 1, indexFrom: 2 }, 7],
      [{ path: fixtureArchive, maxlen: 8, shuffle: true, seed: 7 }, 4],
      [{ sample: true, numWords: 1000, shuffle: true }, 200],
    ]
    for (const [options, length] of cases) {
      const cacheDir = freshDir('cache')
      const data = await load({ cacheDir, shuffle: false, ...options })
      const padded = await loadPadded({ cacheDir, shuffle: false, ...options }, length)
      expect(padded.xTrain).toEqual(padSequences(data.xTrain, { maxlen: length }))
      expect(padded.xTest).toEqual(padSequences(data.xTest, { maxlen: length }))
      expect(padded.yTrain).toEqual(tensor(data.yTrain, [data.yTrain.length, 1]))
      expect(padded.yTest).toEqual(tensor(data.yTest, [data.yTest.length, 1]))
      const indexFrom = options.indexFrom ?? 3
      expect(new Map(padded.vocabulary.map((w, rank) => [w, rank + indexFrom]))).toEqual(data.wordIndex)
    }
  })

  it('lets timers run while it tokenizes, ranks 300,000 words, writes the cache and pads', async () => {
    // A corpus whose ranking is a heavy sort: 300,000 distinct words, most of them seen a few times.
    const root = freshDir('many-words')
    let seed = 12345
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0)
    for (const split of ['train', 'test']) {
      for (const label of ['neg', 'pos']) {
        const folder = join(root, split, label)
        mkdirSync(folder, { recursive: true })
        for (let i = 0; i < 2000; i++) {
          const words = Array.from({ length: 100 }, () => `w${(next() % 300_000).toString(36)}`)
          writeFileSync(join(folder, `${i}_1.txt`), words.join(' '))
        }
      }
    }
    const [longest, data] = await longestGap(() => loadPadded({ path: root, cacheDir: freshDir('cache'), shuffle: false }, 50))
    expect(data.xTrain.shape).toEqual([4000, 50])
    expect(data.vocabulary.length).toBeGreaterThan(200_000)
    // The work is cut into 4 ms slices; the built-in sort of these words alone held the event loop for over 200 ms.
    // The bound is generous for a busy shared machine.
    expect(longest).toBeLessThan(150)
  }, 60_000)

  it('rejects a bad length, and bad options as load does', async () => {
    for (const length of [0, 1.5, -3, '200', undefined]) {
      await expect(loadPadded({ path: fixtureArchive }, length as number)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/imdb.loadPadded: length must be an integer/) })
    }
    await expect(loadPadded({ path: fixtureArchive, numWords: 0 }, 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^imdb\.loadPadded: numWords/) })
    await expect(loadPadded({ path: fixtureArchive, maxlen: 2, cacheDir: freshDir('cache') }, 10)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^imdb\.loadPadded: no review is shorter than maxlen=2/) })
  })
})

describe('imdb.load on bad input', () => {
  it('names a missing path', async () => {
    const missing = join(scratch, 'nowhere', IMDB_ARCHIVE_NAME)
    await expectLoadError({ path: missing }, 'IO', new RegExp(`${missing} does not exist`))
  })

  it('names a folder in another layout, and an empty folder', async () => {
    const other = freshDir('other-layout')
    writeFileSync(join(other, 'reviews.csv'), 'text,label\n')
    await expectLoadError({ path: other }, 'IO', new RegExp(`${other} holds no IMDB data.*aclImdb/\\{train,test\\}/\\{pos,neg\\}`))
    const empty = freshDir('empty')
    await expectLoadError({ path: empty }, 'IO', new RegExp(`${empty} holds no IMDB data`))
  })

  it('names the missing or empty review folder of an incomplete copy', async () => {
    const partial = freshDir('partial')
    cpSync(FIXTURE, partial, { recursive: true })
    rmSync(join(partial, 'aclImdb', 'test', 'neg'), { recursive: true })
    await expectLoadError({ path: partial }, 'IO', new RegExp(`${join(partial, 'aclImdb', 'test', 'neg')} is missing`))
    mkdirSync(join(partial, 'aclImdb', 'test', 'neg'))
    await expectLoadError({ path: partial }, 'IO', /no review in aclImdb\/test\/neg/)
  })

  it('names an archive without the reviews', async () => {
    const root = freshDir('no-reviews')
    mkdirSync(join(root, 'aclImdb'))
    writeFileSync(join(root, 'aclImdb', 'README'), 'nothing else')
    const archive = await packArchive(root, join(root, 'empty.tar.gz'))
    await expectLoadError({ path: archive }, 'IO', new RegExp(`${archive} has no review in aclImdb/train/neg/`))
  })

  it('names a corrupt, a truncated or a non-archive file', async () => {
    const dir = freshDir('corrupt')
    const bytes = readFileSync(fixtureArchive)
    const truncated = join(dir, 'truncated.tar.gz')
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)))
    await expectLoadError({ path: truncated }, 'IO', new RegExp(`cannot read the IMDB archive ${truncated}`))

    const damaged = join(dir, 'damaged.tar.gz')
    const flipped = Buffer.from(bytes)
    for (let i = 200; i < flipped.length - 20; i += 97) flipped[i] ^= 0x5a
    writeFileSync(damaged, flipped)
    await expectLoadError({ path: damaged }, 'IO', new RegExp(`cannot read the IMDB archive ${damaged}`))

    const text = join(dir, 'notes.txt')
    writeFileSync(text, 'not an archive at all\n'.repeat(100))
    await expectLoadError({ path: text }, 'IO', new RegExp(`cannot read the IMDB archive ${text}`))

    const empty = join(dir, 'empty.tar.gz')
    writeFileSync(empty, '')
    await expectLoadError({ path: empty }, 'IO', new RegExp(empty))
  })

  it('tells how to replace a damaged archive in the cache folder', async () => {
    const cacheDir = freshDir('damaged-download')
    const archive = join(cacheDir, IMDB_ARCHIVE_NAME)
    writeFileSync(archive, '<html>captive portal</html>')
    await expectLoadError({ cacheDir }, 'IO', new RegExp(`cannot read the IMDB archive ${archive}.*delete ${archive}.*download: true`))
  })

  it('says where it looked and how to get the data when there is none', async () => {
    const cacheDir = freshDir('no-data')
    await expectLoadError({ cacheDir }, 'IO', new RegExp(`no ${join(cacheDir, IMDB_ARCHIVE_NAME)}.*path.*download: true.*sample: true`))
  })
})

describe('tokenized cache', () => {
  it('serves the second load from the cache, without reading the source', async () => {
    const dir = freshDir('cached')
    const archive = join(dir, IMDB_ARCHIVE_NAME)
    cpSync(fixtureArchive, archive)
    // A whole-second mtime, so that it can be set back exactly below.
    const mtime = new Date('2011-06-01T00:00:00Z')
    utimesSync(archive, mtime, mtime)
    const cacheDir = freshDir('cache')
    const first = await load({ path: archive, cacheDir })
    expect(readdirSync(cacheDir).filter((name) => /^imdb-tokens-[0-9a-f]{16}\.bin$/.test(name))).toHaveLength(1)

    // Same size and mtime, unreadable content: only a cache hit can still load it.
    writeFileSync(archive, Buffer.alloc(statSync(archive).size, 0x42))
    utimesSync(archive, mtime, mtime)
    expect(await load({ path: archive, cacheDir })).toEqual(first)
    expect(await load({ path: archive, cacheDir, numWords: 6 })).toEqual(await loadFresh({ path: fixtureArchive, numWords: 6, shuffle: true }))

    // Without the cache, or once the mtime changes, the archive is read again (and found corrupt).
    await expect(load({ path: archive, cacheDir, cache: false })).rejects.toThrow(/cannot read the IMDB archive/)
    utimesSync(archive, mtime, new Date(mtime.getTime() + 5000))
    await expect(load({ path: archive, cacheDir })).rejects.toThrow(/cannot read the IMDB archive/)
  })

  it('notices a review added to a folder', async () => {
    const root = freshDir('growing')
    cpSync(FIXTURE, root, { recursive: true })
    const cacheDir = freshDir('cache')
    const before = await load({ path: root, cacheDir, shuffle: false })
    writeFileSync(join(root, 'aclImdb', 'test', 'pos', '99_9.txt'), 'great')
    const after = await load({ path: root, cacheDir, shuffle: false })
    expect(after.xTest.length).toBe(before.xTest.length + 1)
    expect(after.xTest.at(-1)).toEqual([1, 4])
  })

  it('ignores and rewrites a damaged cache file', async () => {
    const cacheDir = freshDir('cache')
    const first = await load({ path: fixtureArchive, cacheDir })
    const [cacheFile] = readdirSync(cacheDir).map((name) => join(cacheDir, name))
    const intact = readFileSync(cacheFile)
    writeFileSync(cacheFile, intact.subarray(0, intact.length - 3))
    expect(await load({ path: fixtureArchive, cacheDir })).toEqual(first)
    expect(readFileSync(cacheFile)).toEqual(intact)
    writeFileSync(cacheFile, 'garbage')
    expect(await load({ path: fixtureArchive, cacheDir })).toEqual(first)
  })

  it('still loads when the cache folder cannot be written', async () => {
    const blocker = join(freshDir('blocked'), 'file-not-folder')
    writeFileSync(blocker, '')
    const data = await load({ path: fixtureArchive, cacheDir: blocker })
    expect(data.xTrain.length).toBe(6)
  })
})

describe('download', () => {
  let server: Server
  let baseUrl: string
  const hits: string[] = []
  let archiveBytes: Buffer

  beforeAll(async () => {
    archiveBytes = readFileSync(fixtureArchive)
    server = createServer((request, response) => {
      hits.push(request.url ?? '')
      if (request.url === '/aclImdb_v1.tar.gz') {
        response.writeHead(200, { 'content-length': archiveBytes.length })
        // Two writes, so that the progress line has something to count.
        response.write(archiveBytes.subarray(0, 100))
        setTimeout(() => response.end(archiveBytes.subarray(100)), 20)
      } else if (request.url === '/short.tar.gz') {
        response.writeHead(200, { 'content-length': archiveBytes.length })
        response.end(archiveBytes.subarray(0, 100))
        request.socket.destroy()
      } else if (request.url === '/stall.tar.gz') {
        response.writeHead(200, { 'content-length': archiveBytes.length })
        response.write(archiveBytes.subarray(0, 100)) // and then nothing
      } else {
        response.writeHead(404, 'Not Found')
        response.end()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  afterEach(() => vi.restoreAllMocks())

  it('never downloads unless asked', async () => {
    const cacheDir = freshDir('cache')
    const before = hits.length
    await expectLoadError({ cacheDir, url: `${baseUrl}/aclImdb_v1.tar.gz` }, 'IO', /download: true/)
    expect(hits.length).toBe(before)
  })

  it('fetches the archive into the cache folder once, with a progress line on stderr', async () => {
    const cacheDir = freshDir('download-cache')
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const url = `${baseUrl}/aclImdb_v1.tar.gz`
    const data = await load({ download: true, url, cacheDir })
    expect(data).toEqual(await loadFresh({ path: fixtureArchive, shuffle: true }))
    expect(readFileSync(join(cacheDir, IMDB_ARCHIVE_NAME))).toEqual(archiveBytes)
    expect(readdirSync(cacheDir).filter((name) => name.endsWith('.part'))).toEqual([])
    const printed = stderr.mock.calls.map(([chunk]) => String(chunk)).join('')
    expect(printed).toContain(`downloading ${url}`)
    expect(printed).toMatch(/\(100%\)/)

    // The next load finds the archive in the cache: no second request.
    const requests = hits.filter((hit) => hit === '/aclImdb_v1.tar.gz').length
    await load({ download: true, url, cacheDir })
    expect(hits.filter((hit) => hit === '/aclImdb_v1.tar.gz').length).toBe(requests)
  })

  it('reports HTTP errors and cut connections, leaving no file behind', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    const cacheDir = freshDir('failed-download')
    await expectLoadError({ download: true, url: `${baseUrl}/missing.tar.gz`, cacheDir }, 'IO', /missing\.tar\.gz failed: HTTP 404/)
    await expectLoadError({ download: true, url: `${baseUrl}/short.tar.gz`, cacheDir }, 'IO', /short\.tar\.gz/)
    expect(readdirSync(cacheDir)).toEqual([])
    await expectLoadError({ download: true, url: 'http://127.0.0.1:1/aclImdb_v1.tar.gz', cacheDir }, 'IO', /127\.0\.0\.1:1.*failed/)
  })

  it('gives up on a stalled download instead of hanging', async () => {
    const dest = join(freshDir('stall'), IMDB_ARCHIVE_NAME)
    const error = await downloadFile(`${baseUrl}/stall.tar.gz`, dest, { stallTimeoutMs: 300, progress: null }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(LstmError)
    expect((error as LstmError).message).toMatch(/no data for 0\.3 s/)
    expect(existsSync(dest)).toBe(false)
    expect(readdirSync(join(dest, '..'))).toEqual([])
  })
})
