import { createHash } from 'node:crypto'
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createGunzip } from 'node:zlib'
import { Parser, type ReadEntry } from 'tar'
import { LstmError } from '../errors.js'
import { checkBool, checkInt, checkPath, describe, INT32_MAX, optionsOf } from '../validate.js'
import { tensor, type Tensor } from '../tensor.js'
import { bundledDataPath, defaultCacheDir } from '../paths.js'
import { downloadFile } from './download.js'
import { NumpyRandomState } from './numpy-random.js'
import { Slicer, sortedInSlices } from '../slices.js'

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
   * Keep the tokenized reviews in `cacheDir` (47 MB for the full dataset) so that the next load skips
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
   * Shuffle the reviews as Keras' `load_data` does: the permutation numpy's `RandomState(seed).shuffle` gives, the
   * training reviews first, then the test reviews with the same generator going on. Default: `true`. With `false`
   * the reviews stay in the order of the reference arrays (each split's negatives, then its positives, by file name).
   */
  shuffle?: boolean
  /** Seed of that shuffle, an integer in [0, 2³² − 1]. Default: `113`, Keras'. */
  seed?: number
  /** Id put at the start of every sequence; `null` for none. Default: `1`. */
  startChar?: number | null
  /** Id of words outside the kept vocabulary (or unseen in training); `null` to drop them. Default: `2`. */
  oovChar?: number | null
  /** Id of the most frequent word; the next ones follow. Default: `3`. */
  indexFrom?: number
}

/** The dataset as sequences of word ids (pad them with `padSequences`) and labels (1 positive, 0 negative). */
export interface ImdbData {
  /** The training reviews, each a sequence of word ids. */
  xTrain: number[][]
  /** Their labels: 1 positive, 0 negative. */
  yTrain: Float32Array
  /** The test reviews, each a sequence of word ids. */
  xTest: number[][]
  /** Their labels: 1 positive, 0 negative. */
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

/** For each ASCII byte: the word character it stands for once lower-cased ([a-z0-9']), or 0 for a separator. */
const ASCII_WORD_CHAR = new Uint8Array(128)
for (const ch of "abcdefghijklmnopqrstuvwxyz0123456789'") ASCII_WORD_CHAR[ch.charCodeAt(0)] = ch.charCodeAt(0)
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') ASCII_WORD_CHAR[ch.charCodeAt(0)] = ch.toLowerCase().charCodeAt(0)

const FNV_OFFSET = 0x811c9dc5 | 0
const FNV_PRIME = 0x01000193

/**
 * Word -> id, numbering words as they first appear. Words are ASCII bytes; each is stored once in a byte pool,
 * and a JS string is made only for a new word. (A Map<string, number> needs every one of the 11.5 M tokens of
 * the full dataset as a fresh string, hashed again: it took more time than decompressing and parsing the tar.)
 */
class WordTable {
  /** The words by id. */
  readonly words: string[] = []
  private starts = new Int32Array(1 << 12)
  private lengths = new Int32Array(1 << 12)
  private pool = new Uint8Array(1 << 20)
  private poolUsed = 0
  private capacity = 1 << 16
  private slotIds = new Int32Array(this.capacity).fill(-1)
  private slotHashes = new Int32Array(this.capacity)

  /** The id of the word `word[0 .. length)`, whose FNV-1a hash is `hash`; a new id if the word is new. */
  idOf(word: Uint8Array, length: number, hash: number): number {
    const mask = this.capacity - 1
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const id = this.slotIds[slot]
      if (id < 0) break
      if (this.slotHashes[slot] !== hash || this.lengths[id] !== length) continue
      const start = this.starts[id]
      let same = 0
      while (same < length && this.pool[start + same] === word[same]) same++
      if (same === length) return id
    }
    return this.add(word, length, hash)
  }

  private add(word: Uint8Array, length: number, hash: number): number {
    const id = this.words.length
    if (id === this.starts.length) {
      this.starts = grown(this.starts, 2 * id)
      this.lengths = grown(this.lengths, 2 * id)
    }
    if (this.poolUsed + length > this.pool.length) this.pool = grown(this.pool, 2 * (this.poolUsed + length))
    this.pool.set(word.subarray(0, length), this.poolUsed)
    this.starts[id] = this.poolUsed
    this.lengths[id] = length
    this.poolUsed += length
    this.words.push(Buffer.from(word.buffer, word.byteOffset, length).toString('latin1'))
    // Keep the table at most half full so that probe chains stay short.
    if (2 * this.words.length > this.capacity) this.rehash(2 * this.capacity)
    this.place(id, hash)
    return id
  }

  private place(id: number, hash: number): void {
    const mask = this.capacity - 1
    let slot = hash & mask
    while (this.slotIds[slot] >= 0) slot = (slot + 1) & mask
    this.slotIds[slot] = id
    this.slotHashes[slot] = hash
  }

  private rehash(capacity: number): void {
    const { slotIds, slotHashes } = this
    this.capacity = capacity
    this.slotIds = new Int32Array(capacity).fill(-1)
    this.slotHashes = new Int32Array(capacity)
    for (let slot = 0; slot < slotIds.length; slot++) if (slotIds[slot] >= 0) this.place(slotIds[slot], slotHashes[slot])
  }
}

function grown<T extends Int32Array | Uint8Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length)
  bigger.set(array)
  return bigger
}

/** True when `bytes[i ..]` is "<br />" in any letter case (the reference lower-cases before replacing it). */
function isBreakTag(bytes: Uint8Array, i: number): boolean {
  return (
    bytes[i] === 0x3c && (bytes[i + 1] | 0x20) === 0x62 && (bytes[i + 2] | 0x20) === 0x72 &&
    bytes[i + 3] === 0x20 && bytes[i + 4] === 0x2f && bytes[i + 5] === 0x3e
  )
}

/**
 * Splits reviews into word ids straight from their UTF-8 bytes, giving exactly the words of the reference's
 * `re.findall(r"[a-z0-9']+", text.decode("utf-8").lower().replace("<br />", " "))` without decoding, lower-casing
 * and cutting strings (which took most of the first load's time):
 * - ASCII letters are lower-cased, [a-z0-9'] make words, other ASCII characters separate them;
 * - "<br />" can only add the word "br" (it is bounded by separators), so it is skipped;
 * - only two non-ASCII characters lower-case to word characters: U+0130 (C4 B0) to "i" followed by the
 *   separator U+0307, and the Kelvin sign U+212A (E2 84 AA) to "k"; any other non-ASCII byte separates words,
 *   as does the U+FFFD that decoding would make of a malformed sequence.
 */
class ReviewTokenizer {
  readonly table = new WordTable()
  private word = new Uint8Array(256)
  private ids = new Int32Array(4096)

  wordIds(bytes: Uint8Array): Int32Array {
    // One flat loop over locals: closures sharing this mutable state measured clearly slower.
    const table = this.table
    let word = this.word
    let ids = this.ids
    let count = 0
    let length = 0
    let hash = FNV_OFFSET
    const end = bytes.length
    for (let i = 0; i <= end; ) {
      const byte = i < end ? bytes[i] : 0x20 // a separator after the last byte ends the last word
      let char = 0
      let separatorFollows = false
      if (byte < 0x80) {
        if (byte === 0x3c && isBreakTag(bytes, i)) i += 6
        else {
          char = ASCII_WORD_CHAR[byte]
          i += 1
        }
      } else if (byte === 0xc4 && bytes[i + 1] === 0xb0) {
        char = 0x69 // "i", and the U+0307 that follows ends the word
        separatorFollows = true
        i += 2
      } else if (byte === 0xe2 && bytes[i + 1] === 0x84 && bytes[i + 2] === 0xaa) {
        char = 0x6b // "k"
        i += 3
      } else i += 1

      if (char !== 0) {
        if (length === word.length) word = this.word = grown(word, 2 * length)
        word[length++] = char
        hash = Math.imul(hash ^ char, FNV_PRIME)
        if (!separatorFollows) continue
      }
      if (length > 0) {
        if (count === ids.length) ids = this.ids = grown(ids, 2 * count)
        ids[count++] = table.idOf(word, length, hash)
        length = 0
        hash = FNV_OFFSET
      }
    }
    return ids.slice(0, count)
  }
}

/** A half of the dataset. */
export type Split = 'train' | 'test'
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
  private readonly tokenizer = new ReviewTokenizer()
  /** Occurrences in training reviews, by word id. */
  private trainCounts = new Int32Array(1024)
  readonly reviews: Record<Split, RawReview[]> = { train: [], test: [] }
  readonly counts: Record<string, number> = {}

  /** Add one review, given as the UTF-8 bytes of its file. */
  add({ split, labelFolder, fileName, bytes }: ReviewFile): void {
    const ids = this.tokenizer.wordIds(bytes)
    if (split === 'train') {
      const wordCount = this.tokenizer.table.words.length
      if (this.trainCounts.length < wordCount) this.trainCounts = grown(this.trainCounts, 2 * wordCount)
      for (let i = 0; i < ids.length; i++) this.trainCounts[ids[i]]++
    }
    this.reviews[split].push({ key: `${labelFolder}/${fileName}`, label: labelFolder === 'pos' ? 1 : 0, words: ids })
    const category = `${split}/${labelFolder}`
    this.counts[category] = (this.counts[category] ?? 0) + 1
  }

  /** Ranks the words and lays the reviews out by split, in slices that let timers and I/O run between them. */
  async finish(): Promise<TokenizedImdb> {
    const slice = new Slicer()
    const { words } = this.tokenizer.table
    const trainIds: number[] = []
    for (let id = 0; id < words.length; id++) if (this.trainCounts[id] > 0) trainIds.push(id)
    // The reference sorts by (-count, word); words are ASCII, so comparing UTF-16 units is comparing code points.
    const ranked = await sortedInSlices(trainIds, (a, b) => this.trainCounts[b] - this.trainCounts[a] || (words[a] < words[b] ? -1 : 1), slice)
    const rankOf = new Int32Array(words.length).fill(-1)
    ranked.forEach((id, rank) => (rankOf[id] = rank))

    const encodeSplit = async (unsorted: RawReview[]): Promise<TokenizedSplit> => {
      const reviews = await sortedInSlices(unsorted, (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0), slice)
      const offsets = new Uint32Array(reviews.length + 1)
      reviews.forEach((review, i) => (offsets[i + 1] = offsets[i] + review.words.length))
      const tokens = new Int32Array(offsets[reviews.length])
      for (let i = 0; i < reviews.length; i++) {
        const { words: ids } = reviews[i]
        const base = offsets[i]
        for (let j = 0; j < ids.length; j++) tokens[base + j] = rankOf[ids[j]]
        if (slice.due()) await slice.yield()
      }
      return { labels: Uint8Array.from(reviews, (review) => review.label), offsets, tokens }
    }
    return {
      vocabulary: ranked.map((id) => words[id]),
      train: await encodeSplit(this.reviews.train),
      test: await encodeSplit(this.reviews.test),
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

/** One labelled review file of the dataset, as read from the archive or the folder. */
export interface ReviewFile {
  /** The half it belongs to. */
  split: Split
  /** Its label's folder: `neg` or `pos`. */
  labelFolder: 'neg' | 'pos'
  /** "ID_RATING.txt" */
  fileName: string
  /** The file's UTF-8 bytes. */
  bytes: Uint8Array
}

/**
 * Stream the (gzipped) tar archive through tar's parser and hand over the labelled reviews, in archive order;
 * nothing goes to disk. Selection as the reference: 4 path parts, train|test, pos|neg, *.txt ("./" tolerated).
 */
export async function readArchiveReviews(archive: string, onReview: (review: ReviewFile) => void): Promise<void> {
  checkPath('readArchiveReviews: archive', archive)
  if (typeof onReview !== 'function') throw new LstmError('INVALID_ARGUMENT', `readArchiveReviews: onReview must be a function, got ${describe(onReview)}`)
  const gzipped = await startsWithGzipMagic(archive)
  await new Promise<void>((resolvePromise, reject) => {
    const input = createReadStream(archive, { highWaterMark: 1 << 20 })
    // tar could gunzip too, but on the main thread; zlib's stream runs on the thread pool, beside the tokenizing.
    // The parser handles each chunk, and tokenizes the reviews it completes, in one go: 64 KB (about 50 reviews)
    // keeps that stretch of the event loop short.
    const gunzip = gzipped ? createGunzip({ chunkSize: 1 << 16 }) : undefined
    // strict: a bad checksum or a truncated entry is an error, not a warning that would silently lose reviews.
    const parser = new Parser({ strict: true })
    let settled = false
    const fail = (err: unknown) => {
      if (settled) return
      settled = true
      input.destroy()
      gunzip?.destroy()
      const reason = (err as Error)?.message ?? String(err)
      reject(new LstmError('IO', `cannot read the IMDB archive ${archive}: ${reason} (is it a complete ${IMDB_ARCHIVE_NAME}?)`, { cause: err }))
    }
    parser.on('entry', (entry: ReadEntry) => {
      const parts = entry.path.replace(/^\.\//, '').split('/')
      const [, split, labelFolder, fileName] = parts
      const wanted =
        (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') && parts.length === 4 &&
        (split === 'train' || split === 'test') && (labelFolder === 'pos' || labelFolder === 'neg') && fileName.endsWith('.txt')
      if (!wanted) {
        entry.resume()
        return
      }
      const chunks: Buffer[] = []
      entry.on('data', (chunk: Buffer) => chunks.push(chunk))
      entry.on('end', () => {
        try {
          onReview({ split, labelFolder, fileName, bytes: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks) })
        } catch (err) {
          fail(err)
        }
      })
    })
    parser.on('error', fail)
    input.on('error', fail)
    gunzip?.on('error', fail)
    parser.on('end', () => {
      if (settled) return
      settled = true
      resolvePromise()
    })
    const tarStream = gunzip ? input.pipe(gunzip) : input
    tarStream.pipe(parser as unknown as NodeJS.WritableStream)
  })
}

async function startsWithGzipMagic(file: string): Promise<boolean> {
  let handle
  try {
    handle = await open(file, 'r')
    const head = Buffer.alloc(2)
    const { bytesRead } = await handle.read(head, 0, 2, 0)
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b
  } catch (err) {
    throw new LstmError('IO', `cannot read the IMDB archive ${file}: ${(err as Error).message}`, { cause: err })
  } finally {
    await handle?.close()
  }
}

/** Read `root/{train,test}/{pos,neg}/*.txt` (root is the aclImdb folder). */
async function readFolder(root: string, builder: CorpusBuilder): Promise<void> {
  const slice = new Slicer()
  for (const split of SPLITS) {
    for (const labelFolder of LABEL_FOLDERS) {
      const folder = join(root, split, labelFolder)
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        if (!entry.name.endsWith('.txt') || entry.isDirectory()) continue
        const file = join(folder, entry.name)
        // Synchronous reads: for 50,000 small files, fs.promises.readFile measured 6x slower (four thread-pool
        // round trips per file). Yielding now and then keeps the event loop alive.
        let bytes: Buffer
        try {
          bytes = readFileSync(file)
        } catch (err) {
          throw new LstmError('IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
        }
        builder.add({ split, labelFolder, fileName: entry.name, bytes })
        if (slice.due()) await slice.yield()
      }
    }
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

type Source = { kind: 'archive'; path: string } | { kind: 'folder'; path: string }

/** An extracted aclImdb folder, once its four review folders are known to be there. */
function folderSource(root: string): Source {
  for (const split of SPLITS) {
    for (const labelFolder of LABEL_FOLDERS) {
      const folder = join(root, split, labelFolder)
      if (!isDirectory(folder)) throw new LstmError('IO', `${folder} is missing: ${LAYOUT_HINT}`)
    }
  }
  return { kind: 'folder', path: root }
}

/** Decide what `path` is: an archive, the aclImdb folder, a folder holding aclImdb, or a folder holding the archive. */
function sourceFromPath(path: string): Source {
  const absolute = resolve(path)
  let stats
  try {
    stats = statSync(absolute)
  } catch {
    throw new LstmError(
      'IO',
      `IMDB data not found: ${absolute} does not exist. Pass the path of ${IMDB_ARCHIVE_NAME} (84 MB from ${IMDB_URL}) or of its ` +
        'extracted aclImdb folder; `{ download: true }` (the CLI: `lstm-native train imdb --download`) fetches it for you.',
    )
  }
  if (stats.isFile()) return { kind: 'archive', path: absolute }
  if (!stats.isDirectory()) throw new LstmError('IO', `${absolute} is neither a file nor a folder`)
  if (isDirectory(join(absolute, 'aclImdb'))) return folderSource(join(absolute, 'aclImdb'))
  if (isDirectory(join(absolute, 'train')) || isDirectory(join(absolute, 'test'))) return folderSource(absolute)
  if (existsSync(join(absolute, IMDB_ARCHIVE_NAME))) return { kind: 'archive', path: join(absolute, IMDB_ARCHIVE_NAME) }
  throw new LstmError('IO', `${absolute} holds no IMDB data: neither an aclImdb folder, nor train/ and test/, nor ${IMDB_ARCHIVE_NAME}; ${LAYOUT_HINT}`)
}

async function resolveSource(options: ImdbLoadOptions, cacheDir: string, what: string): Promise<Source> {
  if (options.path !== undefined && options.sample) {
    throw new LstmError('INVALID_ARGUMENT', `${what}: pass either path or sample: true, not both`)
  }
  if (options.path !== undefined) return sourceFromPath(options.path)
  if (options.sample) return { kind: 'archive', path: bundledDataPath(IMDB_SAMPLE_NAME) }

  const cachedArchive = join(cacheDir, IMDB_ARCHIVE_NAME)
  if (existsSync(cachedArchive)) return { kind: 'archive', path: cachedArchive }
  if (isDirectory(join(cacheDir, 'aclImdb'))) return folderSource(join(cacheDir, 'aclImdb'))
  if (options.download) {
    await downloadFile(options.url ?? IMDB_URL, cachedArchive)
    return { kind: 'archive', path: cachedArchive }
  }
  const size = options.url === undefined ? ' (84 MB)' : ''
  throw new LstmError(
    'IO',
    `IMDB data not found: no ${cachedArchive} (nor an extracted aclImdb folder there). Pass { path: '.../${IMDB_ARCHIVE_NAME}' }, ` +
      `or { download: true } to fetch it${size} from ${options.url ?? IMDB_URL}, or { sample: true } for the bundled 2,000-review sample.`,
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenized cache: one binary file per source, whatever the encoding options
// ---------------------------------------------------------------------------------------------------------------

const CACHE_MAGIC = 'LSTMIMDB'
// Bump when the tokenizing or the file layout changes: older cache files are then ignored and rewritten.
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
 * Layout: "LSTMIMDB", u32 LE version, u32 LE header length, header JSON, zero padding to a multiple of 4, then
 * train offsets (u32), test offsets (u32), train tokens (i32), test tokens (i32), train labels (u8), test labels
 * (u8), vocabulary (UTF-8, one word per line). The arrays are in the machine's byte order: a cache stays local.
 */
async function writeCache(file: string, fingerprint: string, data: TokenizedImdb): Promise<void> {
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
  // Asynchronous, part by part: a synchronous write of the 47 MB (and their concatenation) held the event loop.
  const partial = `${file}.${process.pid}.part`
  try {
    await mkdir(resolve(file, '..'), { recursive: true })
    await writeFile(partial, parts)
    await rename(partial, file)
  } catch {
    // The cache only saves time: a read-only or full disk must not fail the load.
    await unlink(partial).catch(() => {})
  }
}

/**
 * The lines of the ASCII text `bytes[from .. to)` (none when it is empty), split piece by piece: splitting the
 * 90,000 words of the full vocabulary at once held the event loop for 10 to 30 ms.
 */
async function splitLines(bytes: Buffer, from: number, to: number): Promise<string[]> {
  const lines: string[] = []
  const slice = new Slicer()
  const PIECE = 1 << 14
  for (let start = from; start < to; ) {
    // A piece ends at a newline (or at the end), so no line is cut in two.
    const newline = start + PIECE < to ? bytes.indexOf(0x0a, start + PIECE) : -1
    const end = newline < 0 || newline >= to ? to : newline
    for (const line of bytes.toString('latin1', start, end).split('\n')) lines.push(line)
    start = end + 1
    if (slice.due()) await slice.yield()
  }
  return lines
}

/** The cached tokenization, or undefined when there is none or it is stale or damaged (it is then rebuilt). */
async function readCache(file: string, fingerprint: string): Promise<TokenizedImdb | undefined> {
  let bytes: Buffer
  try {
    // Off the JS thread: a synchronous read of the 25 MB full-dataset cache held the event loop.
    bytes = await readFile(file)
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
    return {
      vocabulary: await splitLines(bytes, at, at + header.vocabularyBytes),
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

/** Review indices `0 .. length - 1`, shuffled in place by `random` when given. */
function shuffledOrder(length: number, random: NumpyRandomState | undefined): Uint32Array {
  const order = new Uint32Array(length)
  for (let i = 0; i < length; i++) order[i] = i
  random?.shuffle(order)
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

/** The reviews of `order` that Keras's maxlen filter keeps: it filters on the length before words are dropped (oovChar null), start mark included. */
function keptReviews(split: TokenizedSplit, order: Uint32Array, { maxlen, startChar }: Encoding): Uint32Array {
  const mark = startChar === null ? 0 : 1
  return order.filter((review) => split.offsets[review + 1] - split.offsets[review] + mark < maxlen)
}

/**
 * Review `review` of `split` encoded into `out` from index 0 (a larger buffer is returned when it is too short);
 * returns the buffer and the sequence's length.
 */
function encodeReview(split: TokenizedSplit, review: number, encoding: Encoding, out: Int32Array): [Int32Array, number] {
  const { numWords, skipTop, startChar, oovChar, indexFrom } = encoding
  const from = split.offsets[review]
  const to = split.offsets[review + 1]
  if (out.length < to - from + 1) out = new Int32Array(2 * (to - from + 1))
  let at = 0
  if (startChar !== null) out[at++] = startChar
  for (let i = from; i < to; i++) {
    const rank = split.tokens[i]
    const id = rank + indexFrom
    if (rank >= skipTop && id < numWords) out[at++] = id
    else if (oovChar !== null) out[at++] = oovChar
  }
  return [out, at]
}

/**
 * Calls `use(row, sequence, size)` for each kept review in order, the review encoded in `sequence[0 .. size)` (a
 * buffer reused from one review to the next), in slices with a yield to the event loop between them, so timers and
 * I/O keep running while 50,000 reviews are encoded.
 */
async function forEachEncoded(split: TokenizedSplit, kept: Uint32Array, encoding: Encoding, use: (row: number, sequence: Int32Array, size: number) => void): Promise<void> {
  let sequence: Int32Array = new Int32Array(1024)
  const slice = new Slicer()
  for (let row = 0; row < kept.length; row++) {
    if (slice.due()) await slice.yield()
    let size: number
    ;[sequence, size] = encodeReview(split, kept[row], encoding, sequence)
    use(row, sequence, size)
  }
}

/** The kept reviews of `order` as arrays of ids, and their labels. */
async function encodeSplit(split: TokenizedSplit, order: Uint32Array, encoding: Encoding): Promise<{ x: number[][]; y: Float32Array }> {
  const kept = keptReviews(split, order, encoding)
  const x: number[][] = []
  await forEachEncoded(split, kept, encoding, (_, sequence, size) => {
    // Allocating the final length at once spares the garbage collector (half the time).
    const ids = new Array<number>(size)
    for (let i = 0; i < size; i++) ids[i] = sequence[i]
    x.push(ids)
  })
  return { x, y: Float32Array.from(kept, (review) => split.labels[review]) }
}

/**
 * `padSequences(encodeSplit(...).x, { maxlen: length })` without the arrays in between: the last `length` ids of each
 * kept review go to the end of its row.
 */
async function padSplit(split: TokenizedSplit, order: Uint32Array, encoding: Encoding, length: number): Promise<{ x: Int32Array; y: Float32Array }> {
  const kept = keptReviews(split, order, encoding)
  let x: Int32Array
  try {
    x = new Int32Array(kept.length * length)
  } catch (err) {
    throw new LstmError('OUT_OF_MEMORY', `imdb.loadPadded: ${kept.length} reviews of length ${length} need ${kept.length * length * 4} bytes, which cannot be allocated`, { cause: err })
  }
  await forEachEncoded(split, kept, encoding, (row, sequence, size) => {
    const taken = Math.min(size, length)
    x.set(sequence.subarray(size - taken, size), (row + 1) * length - taken)
  })
  return { x, y: Float32Array.from(kept, (review) => split.labels[review]) }
}

function checkInteger(what: string, name: string, value: unknown, min: number, nullable: boolean, max = INT32_MAX): void {
  if (value === undefined || (nullable && value === null)) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new LstmError('INVALID_ARGUMENT', `${what}: ${name} must be an integer in [${min}, ${max}]${nullable ? ' or null' : ''}, got ${describe(value)}`)
  }
}

/** `what`: the function the options were given to (`imdb.load` or `imdb.loadPadded`), named in the errors. */
function checkOptions(options: ImdbLoadOptions | null | undefined, what: string): ImdbLoadOptions {
  const o = optionsOf(what, options)
  for (const key of ['path', 'cacheDir'] as const) if (o[key] !== undefined) checkPath(`${what}: ${key}`, o[key])
  if (o.url !== undefined && typeof o.url !== 'string') throw new LstmError('INVALID_ARGUMENT', `${what}: url must be a string, got ${describe(o.url)}`)
  for (const key of ['sample', 'download', 'cache', 'shuffle'] as const) checkBool(`${what}: ${key}`, o[key])
  checkInteger(what, 'numWords', o.numWords, 1, true)
  checkInteger(what, 'skipTop', o.skipTop, 0, false)
  checkInteger(what, 'maxlen', o.maxlen, 1, true)
  // numpy's RandomState takes any 32-bit seed.
  checkInteger(what, 'seed', o.seed, 0, false, 0xffffffff)
  checkInteger(what, 'startChar', o.startChar, 0, true)
  checkInteger(what, 'oovChar', o.oovChar, 0, true)
  checkInteger(what, 'indexFrom', o.indexFrom, 0, false)
  return o
}

/** The reviews of both splits, tokenized (from the cache when it can), in the order and encoding the options ask for. */
interface Prepared {
  tokenized: TokenizedImdb
  encoding: Encoding
  trainOrder: Uint32Array
  testOrder: Uint32Array
}

/** The checked options' source, tokenized, and the shuffled review orders: what `load` and `loadPadded` share. */
async function prepare(given: ImdbLoadOptions | null | undefined, what: string): Promise<Prepared> {
  const options = checkOptions(given, what)
  const cacheDir = options.cacheDir === undefined ? defaultCacheDir() : resolve(options.cacheDir)
  const source = await resolveSource(options, cacheDir, what)

  const useCache = options.cache ?? true
  const fingerprint = sourceFingerprint(source)
  const cacheFile = cacheFileFor(cacheDir, fingerprint)
  let tokenized = useCache ? await readCache(cacheFile, fingerprint) : undefined
  if (!tokenized) {
    const builder = new CorpusBuilder()
    try {
      if (source.kind === 'archive') await readArchiveReviews(source.path, (review) => builder.add(review))
      else await readFolder(source.path, builder)
      checkComplete(builder, source.path)
    } catch (err) {
      // A damaged download in the cache would otherwise fail every later load the same way.
      const inCache = options.path === undefined && !options.sample
      if (!(err instanceof LstmError) || !inCache) throw err
      throw new LstmError('IO', `${err.message}; delete ${source.path} and load with { download: true } to fetch it again`, { cause: err })
    }
    tokenized = await builder.finish()
    if (useCache) await writeCache(cacheFile, fingerprint, tokenized)
  }

  const {
    numWords = null, skipTop = 0, maxlen = null, shuffle = true, seed = 113, startChar = 1, oovChar = 2, indexFrom = 3,
  } = options
  const encoding: Encoding = {
    numWords: numWords ?? Infinity,
    skipTop,
    maxlen: maxlen ?? Infinity,
    startChar,
    oovChar,
    indexFrom,
  }
  // Like Keras: one generator shuffles train, then test, before the maxlen filter.
  const random = shuffle ? new NumpyRandomState(seed) : undefined
  const trainOrder = shuffledOrder(tokenized.train.labels.length, random)
  const testOrder = shuffledOrder(tokenized.test.labels.length, random)
  return { tokenized, encoding, trainOrder, testOrder }
}

function checkSomeKept(what: string, trainReviews: number, testReviews: number, maxlen: number): void {
  if (trainReviews === 0 || testReviews === 0) {
    throw new LstmError('INVALID_ARGUMENT', `${what}: no review is shorter than maxlen=${maxlen}; increase maxlen`)
  }
}

/**
 * Load the IMDB review dataset as Keras' `imdb.load_data` does, but from the original text archive: the ids are
 * those of shared/anchors/prep_imdb.py (0 padding, 1 start, 2 unknown, words by training-set frequency from 3),
 * so with `shuffle: false`, `padSequences(xTrain, { maxlen: 200 })` with `numWords: 1000` equals its `x_train` exactly.
 * By default the reviews are shuffled with Keras' permutation (`shuffle`, `seed`), so that a `validationSplit`
 * holds both classes.
 *
 * The first load of the full archive decompresses and tokenizes 50,000 reviews (a few seconds); the result is
 * cached in `cacheDir`, so later loads take a fraction of a second. {@link loadPadded} gives the same reviews
 * already padded, without the 11 million numbers of these arrays.
 *
 * @throws LstmError('IO') when the data is missing, not in the aclImdb layout, unreadable or corrupt, or the
 *   download fails; LstmError('INVALID_ARGUMENT') for a bad option.
 */
export async function load(given?: ImdbLoadOptions | null): Promise<ImdbData> {
  const { tokenized, encoding, trainOrder, testOrder } = await prepare(given, 'imdb.load')
  const train = await encodeSplit(tokenized.train, trainOrder, encoding)
  const test = await encodeSplit(tokenized.test, testOrder, encoding)
  checkSomeKept('imdb.load', train.x.length, test.x.length, encoding.maxlen)
  const wordIndex = new Map<string, number>()
  const slice = new Slicer()
  for (let rank = 0; rank < tokenized.vocabulary.length; rank++) {
    wordIndex.set(tokenized.vocabulary[rank], rank + encoding.indexFrom)
    if (slice.due()) await slice.yield()
  }
  return { xTrain: train.x, yTrain: train.y, xTest: test.x, yTest: test.y, wordIndex }
}

/** The dataset as {@link loadPadded} gives it: every review padded or cut to one length. */
export interface ImdbPaddedData {
  /** The training reviews, int32 `[reviews, length]`. */
  xTrain: Tensor
  /** Their labels, float32 `[reviews, 1]`: 1 positive, 0 negative. */
  yTrain: Tensor
  /** The test reviews, int32 `[reviews, length]`. */
  xTest: Tensor
  /** Their labels, float32 `[reviews, 1]`. */
  yTest: Tensor
  /** The words of the training reviews by decreasing count: word `i` has id `i + indexFrom` (kept when below `numWords`). */
  vocabulary: string[]
}

/**
 * The reviews of {@link load}, with the same options, padded or cut to `length` tokens as
 * `padSequences(x, { maxlen: length })` does ('pre' padding with 0, 'pre' truncation): the same tensors, made straight
 * from the tokenized reviews without a JavaScript array per review (which hold 11 million numbers for the full
 * dataset, and whose garbage collection pauses the event loop), in slices that let timers and I/O run.
 *
 * @throws as {@link load}; LstmError('INVALID_ARGUMENT') for a `length` that is not an integer ≥ 1.
 */
export async function loadPadded(options: ImdbLoadOptions | null | undefined, length: number): Promise<ImdbPaddedData> {
  checkInt('imdb.loadPadded: length', length, 1)
  const { tokenized, encoding, trainOrder, testOrder } = await prepare(options, 'imdb.loadPadded')
  const train = await padSplit(tokenized.train, trainOrder, encoding, length)
  const test = await padSplit(tokenized.test, testOrder, encoding, length)
  checkSomeKept('imdb.loadPadded', train.y.length, test.y.length, encoding.maxlen)
  return {
    xTrain: tensor(train.x, [train.y.length, length]),
    yTrain: tensor(train.y, [train.y.length, 1]),
    xTest: tensor(test.x, [test.y.length, length]),
    yTest: tensor(test.y, [test.y.length, 1]),
    vocabulary: tokenized.vocabulary,
  }
}
