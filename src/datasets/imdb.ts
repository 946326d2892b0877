import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Parser, type ReadEntry } from 'tar'
import { LstmError } from '../errors.js'
import { bundledDataPath, defaultCacheDir } from '../paths.js'
import { downloadFile } from './download.js'

/** The Large Movie Review Dataset (Maas et al., 2011): 25,000 training and 25,000 test reviews. */
export const IMDB_URL = 'https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz'
/** File name of the official archive, looked for in the cache folder. */
export const IMDB_ARCHIVE_NAME = 'aclImdb_v1.tar.gz'
/** File name of the 1,000 + 1,000 review sample shipped in the package's data/ folder. */
export const IMDB_SAMPLE_NAME = 'imdb-sample.tar.gz'

/**
 * Options of {@link load}. Where the reviews come from: `path`, else `sample`, else the cache folder, else (only
 * with `download: true`) the Stanford server. The encoding options follow Keras' `imdb.load_data`.
 */
export interface ImdbLoadOptions {
  /**
   * The official archive `aclImdb_v1.tar.gz`, or an extracted copy: the `aclImdb` folder itself or the folder
   * holding it (layout `aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`). Default: none.
   */
  path?: string
  /** Read the small sample shipped with the package (1,000 training and 1,000 test reviews). Default: `false`. */
  sample?: boolean
  /** Fetch the archive (84 MB) into the cache folder when it is not there yet. Default: `false`: never download unasked. */
  download?: boolean
  /** Where `download` fetches the archive from. Default: {@link IMDB_URL}. */
  url?: string
  /** Folder of the downloaded archive and of the tokenized cache. Default: `$LSTM_NATIVE_CACHE`, else `~/.cache/lstm-native`. */
  cacheDir?: string
  /**
   * Keep the tokenized reviews in `cacheDir` (about 50 MB for the full dataset) so that the next load skips
   * decompressing and tokenizing. Default: `true`.
   */
  cache?: boolean
  /** Keep words whose id is below `numWords`; the others become `oovChar`. Default: every word. */
  numWords?: number | null
  /**
   * Treat the `skipTop` most frequent words as unknown (`oovChar`). Default: `0`. (Keras' code compares the
   * shifted id with `skip_top` instead, which skips `skip_top - index_from` words and the start mark; this follows
   * its documentation.)
   */
  skipTop?: number
  /** Drop the reviews whose sequence (start mark included) is `maxlen` long or longer, as Keras' `load_data` does. Default: keep all. */
  maxlen?: number | null
  /**
   * Shuffle each split with this seed (train first, then test, from one generator). Default: no shuffle: reviews
   * stay in the order of the reference arrays (negatives then positives, by file name).
   */
  seed?: number | null
  /** Id put at the start of every sequence; `null` for none. Default: `1`. */
  startChar?: number | null
  /** Id of words outside the kept vocabulary (or unseen in training); `null` to drop them. Default: `2`. */
  oovChar?: number | null
  /** Id of the most frequent word; the next ones follow. Default: `3`. */
  indexFrom?: number
}

/** The dataset as sequences of word ids (pad them with `padSequences`) and labels (1 positive, 0 negative). */
export interface ImdbData {
  xTrain: number[][]
  yTrain: Float32Array
  xTest: number[][]
  yTest: Float32Array
  /**
   * Every word of the training reviews -> the id it has in the sequences (most frequent = `indexFrom`), including
   * the words cut by `numWords`. (Keras' `get_word_index()` gives ranks instead, to which you add `index_from`.)
   */
  wordIndex: Map<string, number>
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizing: lower case, "<br />" -> space, words = [a-z0-9']+ (as shared/anchors/prep_imdb.py)
// ---------------------------------------------------------------------------------------------------------------

/** 1 for the UTF-16 code units of [a-z0-9'], the reference's word characters. */
const WORD_CHAR = new Uint8Array(65536)
for (const ch of "abcdefghijklmnopqrstuvwxyz0123456789'") WORD_CHAR[ch.charCodeAt(0)] = 1

/**
 * Word -> id, numbering words as they first appear. A Map<string, number> would need each token cut out of the
 * text as a new string and hashed again (2.4 s of the 50,000 reviews' 11.5 M tokens); this open-addressing table
 * hashes the characters in place and only slices a word out the first time it is seen.
 */
class WordTable {
  readonly words: string[] = []
  private capacity = 1 << 16
  private slotWords: string[] = new Array(this.capacity).fill('')
  private slotIds = new Int32Array(this.capacity).fill(-1)
  private slotHashes = new Int32Array(this.capacity)

  /** The id of `text.slice(start, end)`, whose FNV-1a hash is `hash`; a new id if the word is new. */
  idOf(text: string, start: number, end: number, hash: number): number {
    const length = end - start
    const mask = this.capacity - 1
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slotIds[slot]
      if (id < 0) break
      if (this.slotHashes[slot] !== hash) continue
      const word = this.slotWords[slot]
      if (word.length !== length) continue
      let same = 0
      while (same < length && word.charCodeAt(same) === text.charCodeAt(start + same)) same++
      if (same === length) return id
    }
    const id = this.words.length
    this.words.push(text.slice(start, end))
    // Keep the table at most half full so that probe chains stay short.
    if (2 * this.words.length > this.capacity) this.grow()
    this.place(this.words[id], id, hash)
    return id
  }

  private place(word: string, id: number, hash: number): void {
    const mask = this.capacity - 1
    let slot = hash & mask
    while (this.slotIds[slot] >= 0) slot = (slot + 1) & mask
    this.slotWords[slot] = word
    this.slotIds[slot] = id
    this.slotHashes[slot] = hash
  }

  private grow(): void {
    const { slotWords, slotIds, slotHashes } = this
    this.capacity *= 2
    this.slotWords = new Array(this.capacity).fill('')
    this.slotIds = new Int32Array(this.capacity).fill(-1)
    this.slotHashes = new Int32Array(this.capacity)
    for (let slot = 0; slot < slotIds.length; slot++) {
      if (slotIds[slot] >= 0) this.place(slotWords[slot], slotIds[slot], slotHashes[slot])
    }
  }
}

/**
 * The ids of the words of one review: the maximal runs of [a-z0-9'] in the lower-cased text with "<br />"
 * blanked, i.e. Python's `re.findall(r"[a-z0-9']+", text.lower().replace("<br />", " "))`.
 */
function reviewWordIds(review: string, table: WordTable): Int32Array {
  const text = review.toLowerCase().replaceAll('<br />', ' ')
  const ids: number[] = []
  const length = text.length
  let i = 0
  while (i < length) {
    if (WORD_CHAR[text.charCodeAt(i)] === 0) {
      i++
      continue
    }
    const start = i
    let hash = 0x811c9dc5 | 0
    do {
      hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
      i++
    } while (i < length && WORD_CHAR[text.charCodeAt(i)] === 1)
    ids.push(table.idOf(text, start, i, hash))
  }
  return Int32Array.from(ids)
}

type Split = 'train' | 'test'
const SPLITS: readonly Split[] = ['train', 'test']
const LABEL_FOLDERS = ['neg', 'pos'] as const

interface RawReview {
  /** "neg/0_3.txt": the reference sorts each split by this. */
  key: string
  label: 0 | 1
  /** Word ids in first-seen order across the whole corpus, ranked later. */
  words: Int32Array
}

/** Reviews of one split in reference order: review i is `tokens[offsets[i] .. offsets[i + 1])`. */
interface TokenizedSplit {
  labels: Uint8Array
  offsets: Uint32Array
  /** Rank of each word in the training vocabulary (0 = most frequent), or -1 for a word no training review has. */
  tokens: Int32Array
}

/** The dataset tokenized but not yet encoded: what the cache holds, independent of the load options. */
interface TokenizedImdb {
  /** Training words by rank: by decreasing training count, ties in code-point order. */
  vocabulary: string[]
  train: TokenizedSplit
  test: TokenizedSplit
}

/** Collects reviews as they are read (in any order) and ranks the words once all are in. */
class CorpusBuilder {
  private readonly table = new WordTable()
  /** Occurrences in training reviews, by word id. */
  private trainCounts = new Int32Array(1024)
  readonly reviews: Record<Split, RawReview[]> = { train: [], test: [] }
  readonly counts: Record<string, number> = {}

  add(split: Split, labelFolder: 'neg' | 'pos', fileName: string, text: string): void {
    const ids = reviewWordIds(text, this.table)
    if (split === 'train') {
      if (this.trainCounts.length < this.table.words.length) {
        const grown = new Int32Array(2 * this.table.words.length)
        grown.set(this.trainCounts)
        this.trainCounts = grown
      }
      for (let i = 0; i < ids.length; i++) this.trainCounts[ids[i]]++
    }
    this.reviews[split].push({ key: `${labelFolder}/${fileName}`, label: labelFolder === 'pos' ? 1 : 0, words: ids })
    const category = `${split}/${labelFolder}`
    this.counts[category] = (this.counts[category] ?? 0) + 1
  }

  finish(): TokenizedImdb {
    const { words } = this.table
    const trainIds: number[] = []
    for (let id = 0; id < words.length; id++) if (this.trainCounts[id] > 0) trainIds.push(id)
    // The reference sorts by (-count, word); words are ASCII, so comparing UTF-16 units is comparing code points.
    trainIds.sort((a, b) => this.trainCounts[b] - this.trainCounts[a] || (words[a] < words[b] ? -1 : 1))
    const rankOf = new Int32Array(words.length).fill(-1)
    trainIds.forEach((id, rank) => (rankOf[id] = rank))

    const encodeSplit = (reviews: RawReview[]): TokenizedSplit => {
      reviews.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      const offsets = new Uint32Array(reviews.length + 1)
      reviews.forEach((review, i) => (offsets[i + 1] = offsets[i] + review.words.length))
      const tokens = new Int32Array(offsets[reviews.length])
      reviews.forEach((review, i) => {
        const base = offsets[i]
        for (let j = 0; j < review.words.length; j++) tokens[base + j] = rankOf[review.words[j]]
      })
      return { labels: Uint8Array.from(reviews, (review) => review.label), offsets, tokens }
    }
    return {
      vocabulary: trainIds.map((id) => words[id]),
      train: encodeSplit(this.reviews.train),
      test: encodeSplit(this.reviews.test),
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the archive or the extracted folder
// ---------------------------------------------------------------------------------------------------------------

const LAYOUT_HINT = `expected the layout of ${IMDB_ARCHIVE_NAME}: aclImdb/{train,test}/{pos,neg}/ID_RATING.txt`

/** Make sure all four folders gave reviews: a truncated archive or a partial copy fails here, not in training. */
function checkComplete(builder: CorpusBuilder, source: string): void {
  for (const split of SPLITS) {
    for (const labelFolder of LABEL_FOLDERS) {
      if (!builder.counts[`${split}/${labelFolder}`]) {
        throw new LstmError('IO', `${source} has no review in aclImdb/${split}/${labelFolder}/: ${LAYOUT_HINT}`)
      }
    }
  }
}

/** Stream the (gzipped) tar archive through tar's parser, keeping only the labelled reviews; nothing goes to disk. */
async function readArchive(archive: string, builder: CorpusBuilder): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const input = createReadStream(archive, { highWaterMark: 1 << 20 })
    // strict: a bad checksum or a truncated entry is an error, not a warning that would silently lose reviews.
    const parser = new Parser({ strict: true })
    let settled = false
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      input.destroy()
      const reason = (err as Error)?.message ?? String(err)
      reject(new LstmError('IO', `cannot read the IMDB archive ${archive}: ${reason} (is it a complete ${IMDB_ARCHIVE_NAME}?)`, { cause: err }))
    }
    parser.on('entry', (entry: ReadEntry) => {
      // Same selection as the reference: 4 path parts, train|test, pos|neg, *.txt (a leading "./" is tolerated).
      const parts = entry.path.replace(/^\.\//, '').split('/')
      const [, split, labelFolder, fileName] = parts
      const wanted =
        entry.type === 'File' && parts.length === 4 && (split === 'train' || split === 'test') &&
        (labelFolder === 'pos' || labelFolder === 'neg') && fileName.endsWith('.txt')
      if (!wanted) {
        entry.resume()
        return
      }
      const chunks: Buffer[] = []
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => {
        try {
          builder.add(split, labelFolder, fileName, Buffer.concat(chunks).toString('utf8'))
        } catch (err) {
          fail(err)
        }
      })
    })
    parser.on('error', fail)
    input.on('error', fail)
    parser.on('end', () => {
      if (settled) return
      settled = true
      resolvePromise()
    })
    input.pipe(parser as unknown as NodeJS.WritableStream)
  })
}

/** Read `root/{train,test}/{pos,neg}/*.txt` (root is the aclImdb folder), a few files at a time. */
async function readFolder(root: string, builder: CorpusBuilder): Promise<void> {
  const jobs: { split: Split; labelFolder: 'neg' | 'pos'; fileName: string; file: string }[] = []
  for (const split of SPLITS) {
    for (const labelFolder of LABEL_FOLDERS) {
      const folder = join(root, split, labelFolder)
      if (!isDirectory(folder)) throw new LstmError('IO', `${folder} is missing: ${LAYOUT_HINT}`)
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        if (entry.name.endsWith('.txt') && !entry.isDirectory()) {
          jobs.push({ split, labelFolder, fileName: entry.name, file: join(folder, entry.name) })
        }
      }
    }
  }
  let next = 0
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]
      let text: string
      try {
        text = await readFile(job.file, 'utf8')
      } catch (err) {
        throw new LstmError('IO', `cannot read ${job.file}: ${(err as Error).message}`, { cause: err })
      }
      builder.add(job.split, job.labelFolder, job.fileName, text)
    }
  }
  // A few reads in flight hide the file system latency; tokenizing is synchronous and serial anyway.
  await Promise.all(Array.from({ length: 16 }, worker))
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

type Source = { kind: 'archive'; path: string } | { kind: 'folder'; path: string }

/** Decide what `path` is: an archive, the aclImdb folder, a folder holding aclImdb, or a folder holding the archive. */
function sourceFromPath(path: string): Source {
  const absolute = resolve(path)
  let stats
  try {
    stats = statSync(absolute)
  } catch {
    throw new LstmError('IO', `IMDB data not found: ${absolute} does not exist (pass the path of ${IMDB_ARCHIVE_NAME} or of its extracted aclImdb folder)`)
  }
  if (stats.isFile()) return { kind: 'archive', path: absolute }
  if (!stats.isDirectory()) throw new LstmError('IO', `${absolute} is neither a file nor a folder`)
  if (isDirectory(join(absolute, 'aclImdb'))) return { kind: 'folder', path: join(absolute, 'aclImdb') }
  if (isDirectory(join(absolute, 'train')) || isDirectory(join(absolute, 'test'))) return { kind: 'folder', path: absolute }
  if (existsSync(join(absolute, IMDB_ARCHIVE_NAME))) return { kind: 'archive', path: join(absolute, IMDB_ARCHIVE_NAME) }
  throw new LstmError('IO', `${absolute} holds no IMDB data: neither an aclImdb folder, nor train/ and test/, nor ${IMDB_ARCHIVE_NAME}; ${LAYOUT_HINT}`)
}

async function resolveSource(options: ImdbLoadOptions, cacheDir: string): Promise<Source> {
  if (options.path !== undefined && options.sample) {
    throw new LstmError('INVALID_ARGUMENT', 'imdb.load: pass either path or sample: true, not both')
  }
  if (options.path !== undefined) return sourceFromPath(options.path)
  if (options.sample) return { kind: 'archive', path: bundledDataPath(IMDB_SAMPLE_NAME) }

  const cachedArchive = join(cacheDir, IMDB_ARCHIVE_NAME)
  if (existsSync(cachedArchive)) return { kind: 'archive', path: cachedArchive }
  if (isDirectory(join(cacheDir, 'aclImdb'))) return { kind: 'folder', path: join(cacheDir, 'aclImdb') }
  if (options.download) {
    await downloadFile(options.url ?? IMDB_URL, cachedArchive)
    return { kind: 'archive', path: cachedArchive }
  }
  throw new LstmError(
    'IO',
    `IMDB data not found: no ${cachedArchive} (nor an extracted aclImdb folder there). Pass { path: '.../${IMDB_ARCHIVE_NAME}' }, ` +
      `or { download: true } to fetch it (84 MB) from ${options.url ?? IMDB_URL}, or { sample: true } for the bundled 2,000-review sample.`,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenized cache: one binary file per source, whatever the encoding options
// ---------------------------------------------------------------------------------------------------------------

const CACHE_MAGIC = 'LSTMIMDB'
const CACHE_VERSION = 1

/** Identifies the source's content cheaply: its real path, size and mtime (and those of the four review folders). */
function sourceFingerprint(source: Source): string {
  const real = realpathSync(source.path)
  const stamp = (path: string) => {
    const stats = statSync(path)
    return [stats.size, stats.mtimeMs]
  }
  const parts: unknown[] = [CACHE_VERSION, source.kind, real, stamp(real)]
  if (source.kind === 'folder') {
    // Adding or removing a review changes its folder's mtime; editing one in place is not seen (pass cache: false).
    for (const split of SPLITS) for (const labelFolder of LABEL_FOLDERS) parts.push(stamp(join(real, split, labelFolder)))
  }
  return JSON.stringify(parts)
}

function cacheFileFor(cacheDir: string, fingerprint: string): string {
  return join(cacheDir, `imdb-tokens-${createHash('sha256').update(fingerprint).digest('hex').slice(0, 16)}.bin`)
}

/*
 * Layout, little-endian: "LSTMIMDB", u32 version, u32 header length, header JSON, zero padding to a multiple of 4,
 * then train offsets (u32), test offsets (u32), train tokens (i32), test tokens (i32), train labels (u8),
 * test labels (u8), vocabulary (UTF-8, one word per line).
 */
function writeCache(file: string, fingerprint: string, data: TokenizedImdb): void {
  const vocabulary = Buffer.from(data.vocabulary.join('\n'), 'utf8')
  const header = Buffer.from(
    JSON.stringify({
      fingerprint,
      trainReviews: data.train.labels.length,
      testReviews: data.test.labels.length,
      trainTokens: data.train.tokens.length,
      testTokens: data.test.tokens.length,
      vocabularyBytes: vocabulary.length,
    }),
  )
  const preamble = Buffer.alloc(16 + Math.ceil(header.length / 4) * 4)
  preamble.write(CACHE_MAGIC, 0, 'latin1')
  preamble.writeUInt32LE(CACHE_VERSION, 8)
  preamble.writeUInt32LE(header.length, 12)
  header.copy(preamble, 16)
  const asBytes = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength)
  const parts = [
    preamble,
    asBytes(data.train.offsets), asBytes(data.test.offsets),
    asBytes(data.train.tokens), asBytes(data.test.tokens),
    asBytes(data.train.labels), asBytes(data.test.labels),
    vocabulary,
  ]
  // Write beside the target and rename: a reader never sees half a file, even with two processes loading at once.
  const partial = `${file}.${process.pid}.part`
  try {
    mkdirSync(resolve(file, '..'), { recursive: true })
    writeFileSync(partial, Buffer.concat(parts))
    renameSync(partial, file)
  } catch {
    // The cache only saves time: a read-only or full disk must not fail the load.
    try {
      unlinkSync(partial)
    } catch {}
  }
}

/** The cached tokenization, or undefined when there is none or it is stale or damaged (it is then rebuilt). */
function readCache(file: string, fingerprint: string): TokenizedImdb | undefined {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch {
    return undefined
  }
  try {
    if (bytes.toString('latin1', 0, 8) !== CACHE_MAGIC || bytes.readUInt32LE(8) !== CACHE_VERSION) return undefined
    const headerLength = bytes.readUInt32LE(12)
    const header = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength))
    if (header.fingerprint !== fingerprint) return undefined
    // Typed-array views need 4-byte alignment; a small Buffer can sit anywhere in Node's shared pool.
    if (bytes.byteOffset % 4 !== 0) bytes = Buffer.from(bytes)
    let at = 16 + Math.ceil(headerLength / 4) * 4
    const take = <T>(make: (buffer: ArrayBuffer, offset: number, length: number) => T, length: number, size: number): T => {
      if (at + length * size > bytes.length) throw new Error('truncated')
      const view = make(bytes.buffer as ArrayBuffer, bytes.byteOffset + at, length)
      at += length * size
      return view
    }
    const u32 = (buffer: ArrayBuffer, offset: number, length: number) => new Uint32Array(buffer, offset, length)
    const i32 = (buffer: ArrayBuffer, offset: number, length: number) => new Int32Array(buffer, offset, length)
    const u8 = (buffer: ArrayBuffer, offset: number, length: number) => new Uint8Array(buffer, offset, length)
    const trainOffsets = take(u32, header.trainReviews + 1, 4)
    const testOffsets = take(u32, header.testReviews + 1, 4)
    const trainTokens = take(i32, header.trainTokens, 4)
    const testTokens = take(i32, header.testTokens, 4)
    const trainLabels = take(u8, header.trainReviews, 1)
    const testLabels = take(u8, header.testReviews, 1)
    if (at + header.vocabularyBytes !== bytes.length) return undefined
    const vocabularyText = bytes.toString('utf8', at, at + header.vocabularyBytes)
    return {
      vocabulary: vocabularyText.length > 0 ? vocabularyText.split('\n') : [],
      train: { labels: trainLabels, offsets: trainOffsets, tokens: trainTokens },
      test: { labels: testLabels, offsets: testOffsets, tokens: testTokens },
    }
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding with Keras' load_data options
// ---------------------------------------------------------------------------------------------------------------

/** mulberry32: a small seeded generator, enough to shuffle reproducibly (not numpy's stream: see `seed`). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffledOrder(length: number, random: (() => number) | undefined): Uint32Array {
  const order = new Uint32Array(length)
  for (let i = 0; i < length; i++) order[i] = i
  if (random) {
    for (let i = length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      const swap = order[i]
      order[i] = order[j]
      order[j] = swap
    }
  }
  return order
}

interface Encoding {
  numWords: number
  skipTop: number
  maxlen: number
  startChar: number | null
  oovChar: number | null
  indexFrom: number
}

function encodeSplit(split: TokenizedSplit, order: Uint32Array, encoding: Encoding): { x: number[][]; y: Float32Array } {
  const { numWords, skipTop, maxlen, startChar, oovChar, indexFrom } = encoding
  const x: number[][] = []
  const labels: number[] = []
  for (const review of order) {
    const from = split.offsets[review]
    const to = split.offsets[review + 1]
    // Keras filters on the length before words are dropped (oovChar null), start mark included.
    if (to - from + (startChar === null ? 0 : 1) >= maxlen) continue
    let sequence: number[]
    if (oovChar !== null) {
      // Every word gives one id: allocating the final length at once spares the garbage collector (half the time).
      sequence = new Array<number>(to - from + (startChar === null ? 0 : 1))
      let at = 0
      if (startChar !== null) sequence[at++] = startChar
      for (let i = from; i < to; i++) {
        const rank = split.tokens[i]
        const id = rank + indexFrom
        sequence[at++] = rank >= skipTop && id < numWords ? id : oovChar
      }
    } else {
      sequence = startChar === null ? [] : [startChar]
      for (let i = from; i < to; i++) {
        const rank = split.tokens[i]
        const id = rank + indexFrom
        if (rank >= skipTop && id < numWords) sequence.push(id)
      }
    }
    x.push(sequence)
    labels.push(split.labels[review])
  }
  return { x, y: Float32Array.from(labels) }
}

function checkInteger(name: string, value: unknown, min: number, nullable: boolean): void {
  if (value === undefined || (nullable && value === null)) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new LstmError('INVALID_ARGUMENT', `imdb.load: ${name} must be an integer >= ${min}${nullable ? ' or null' : ''}, got ${String(value)}`)
  }
}

function checkOptions(options: ImdbLoadOptions): void {
  checkInteger('numWords', options.numWords, 1, true)
  checkInteger('skipTop', options.skipTop, 0, false)
  checkInteger('maxlen', options.maxlen, 1, true)
  checkInteger('seed', options.seed, Number.MIN_SAFE_INTEGER, true)
  checkInteger('startChar', options.startChar, 0, true)
  checkInteger('oovChar', options.oovChar, 0, true)
  checkInteger('indexFrom', options.indexFrom, 0, false)
}

/**
 * Load the IMDB review dataset as Keras' `imdb.load_data` does, but from the original text archive: the ids are
 * those of shared/anchors/prep_imdb.py (0 padding, 1 start, 2 unknown, words by training-set frequency from 3),
 * so `padSequences(xTrain, { maxlen: 200 })` with `numWords: 1000` equals its `x_train` exactly.
 *
 * The first load of the full archive decompresses and tokenizes 50,000 reviews (a few seconds); the result is
 * cached in `cacheDir`, so later loads take a fraction of a second.
 *
 * @throws LstmError('IO') when the data is missing, not in the aclImdb layout, unreadable or corrupt, or the
 *   download fails; LstmError('INVALID_ARGUMENT') for a bad option.
 */
export async function load(options: ImdbLoadOptions = {}): Promise<ImdbData> {
  checkOptions(options)
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : resolve(options.cacheDir)
  const source = await resolveSource(options, cacheDir)

  const useCache = options.cache ?? true
  const fingerprint = sourceFingerprint(source)
  const cacheFile = cacheFileFor(cacheDir, fingerprint)
  let tokenized = useCache ? readCache(cacheFile, fingerprint) : undefined
  if (!tokenized) {
    const builder = new CorpusBuilder()
    if (source.kind === 'archive') await readArchive(source.path, builder)
    else await readFolder(source.path, builder)
    checkComplete(builder, source.path)
    tokenized = builder.finish()
    if (useCache) writeCache(cacheFile, fingerprint, tokenized)
  }

  const {
    numWords = null, skipTop = 0, maxlen = null, seed = null, startChar = 1, oovChar = 2, indexFrom = 3,
  } = options
  const encoding: Encoding = {
    numWords: numWords ?? Infinity,
    skipTop,
    maxlen: maxlen ?? Infinity,
    startChar,
    oovChar,
    indexFrom,
  }
  const random = seed === null ? undefined : seededRandom(seed)
  // Like Keras: one generator shuffles train, then test.
  const trainOrder = shuffledOrder(tokenized.train.labels.length, random)
  const testOrder = shuffledOrder(tokenized.test.labels.length, random)
  const train = encodeSplit(tokenized.train, trainOrder, encoding)
  const test = encodeSplit(tokenized.test, testOrder, encoding)
  if (train.x.length === 0 || test.x.length === 0) {
    throw new LstmError('INVALID_ARGUMENT', `imdb.load: no review is shorter than maxlen=${maxlen}; increase maxlen`)
  }
  const wordIndex = new Map<string, number>()
  tokenized.vocabulary.forEach((word, rank) => wordIndex.set(word, rank + indexFrom))
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, wordIndex }
}
