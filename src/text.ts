import { readFileSync } from 'node:fs'
import { LstmError } from './errors.js'
import { tensor, type Tensor } from './tensor.js'
import { checkBool, checkInt, checkPath, describe, INT32_MAX, optionsOf } from './validate.js'

// ---------------------------------------------------------------------------------------------------------------
// Word lists and vocabularies (the TensorFlow next-word tutorial's read_data / build_dataset)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Read a text file and split it on whitespace, like the TensorFlow tutorial's `read_data` (`f.read().split()`).
 * Punctuation is kept: the tutorial's corpora separate it with spaces already.
 */
export function readWords(path: string): string[] {
  checkPath('readWords: path', path)
  let content: string
  try {
    content = readFileSync(path, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new LstmError('IO', `readWords: cannot read ${path} (${reason})`, { cause: err })
  }
  return content.split(/\s+/).filter((word) => word.length > 0)
}

/** A word <-> id mapping: `dictionary.get(word)` is the id, `reverseDictionary[id]` the word. */
export interface Vocabulary {
  /** Word → id. */
  dictionary: Map<string, number>
  /** Id → word: the words, most frequent first. */
  reverseDictionary: string[]
}

/**
 * Number the distinct words by frequency: the most frequent gets 0. Ties keep the order of first appearance, as
 * Python's `collections.Counter(words).most_common()` does (the tutorial's `build_dataset`).
 */
export function buildVocabulary(words: Iterable<string>): Vocabulary {
  // A Map iterates in insertion order, i.e. first appearance; Array.prototype.sort is stable, so ties keep it.
  const counts = new Map<string, number>()
  for (const word of iterable('buildVocabulary', words)) counts.set(word, (counts.get(word) ?? 0) + 1)
  const reverseDictionary = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([word]) => word)
  const dictionary = new Map(reverseDictionary.map((word, id) => [word, id]))
  return { dictionary, reverseDictionary }
}

// ---------------------------------------------------------------------------------------------------------------
// Tokenizer (Keras' legacy keras.preprocessing.text.Tokenizer)
// ---------------------------------------------------------------------------------------------------------------

/** Keras' default `filters`: punctuation, tab and newline, each replaced by `split` before splitting. */
export const KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'

/** Options of {@link Tokenizer}; every field is optional and defaults to Keras' value. */
export interface TokenizerOptions {
  /**
   * Keep only the words whose index is below `numWords` when turning texts into sequences (so the `numWords - 1`
   * most frequent words, index 0 being reserved). `fitOnTexts` still indexes every word. Default: no limit.
   */
  numWords?: number | null
  /** Characters removed from texts (each becomes `split`). Default: {@link KERAS_FILTERS}. */
  filters?: string
  /** Lower-case texts before splitting. Default: `true`. */
  lower?: boolean
  /** Separator between words. Default: `' '`. */
  split?: string
  /**
   * Word standing for unknown words. When set it gets index 1 and replaces, in `textsToSequences`, words that
   * were never seen or whose index is `>= numWords`; when unset those words are dropped. Default: none.
   */
  oovToken?: string | null
}

/** `v` when it can be iterated (an array, a Set, a generator); a string, null or a number is `INVALID_ARGUMENT`. */
function iterable<T>(what: string, v: Iterable<T>): Iterable<T> {
  if (typeof v !== 'object' || v === null || typeof (v as Partial<Iterable<T>>)[Symbol.iterator] !== 'function') {
    throw new LstmError('INVALID_ARGUMENT', `${what}: expected an array (or another iterable) of texts or sequences, got ${describe(v)}`)
  }
  return v
}

/** Split a text into words the way Keras' `text_to_word_sequence` does. */
function textToWordSequence(text: string, lower: boolean, filtersPattern: RegExp | null, split: string): string[] {
  let cleaned = lower ? text.toLowerCase() : text
  if (filtersPattern) cleaned = cleaned.replace(filtersPattern, split)
  return cleaned.split(split).filter((word) => word.length > 0)
}

/** One character class matching any code point of `filters`; \u{...} escapes need no care for ] ^ - \. */
function filtersToPattern(filters: string): RegExp | null {
  const codePoints = [...filters].map((ch) => `\\u{${ch.codePointAt(0)!.toString(16)}}`)
  return codePoints.length > 0 ? new RegExp(`[${codePoints.join('')}]`, 'gu') : null
}

/**
 * Turns texts into sequences of word indices, following Keras' legacy `Tokenizer`: index 0 is never a word,
 * the `oovToken` (if any) is 1, then words by decreasing count, ties in order of first appearance.
 *
 * ```ts
 * const tokenizer = new Tokenizer({ numWords: 1000, oovToken: '<OOV>' })
 * tokenizer.fitOnTexts(trainTexts)
 * const x = padSequences(tokenizer.textsToSequences(trainTexts), { maxlen: 200 })
 * ```
 */
export class Tokenizer {
  /** Only words with an index below this are kept by `textsToSequences`; null keeps all. */
  readonly numWords: number | null
  /** Characters removed from the texts before splitting. */
  readonly filters: string
  /** Whether texts are lower-cased first. */
  readonly lower: boolean
  /** Separator between words. */
  readonly split: string
  /** Word standing for unknown words, or null to drop them. */
  readonly oovToken: string | null
  /** Occurrences of each word over all fitted texts, in order of first appearance. */
  readonly wordCounts = new Map<string, number>()
  /** Word -> index (1-based; the `oovToken` gets 1). Rebuilt by every `fitOnTexts`. */
  wordIndex = new Map<string, number>()
  /** Index -> word, the inverse of `wordIndex`. */
  indexWord = new Map<number, string>()
  /** Number of texts fitted so far. */
  documentCount = 0
  private readonly filtersPattern: RegExp | null

  constructor(options?: TokenizerOptions | null) {
    const { numWords = null, filters = KERAS_FILTERS, lower = true, split = ' ', oovToken = null } = optionsOf('Tokenizer', options)
    if (numWords !== null) checkInt('Tokenizer numWords (or null)', numWords, 0, INT32_MAX)
    if (typeof split !== 'string' || split.length === 0) {
      throw new LstmError('INVALID_ARGUMENT', `Tokenizer split must be a non-empty string, got ${describe(split)}`)
    }
    if (typeof filters !== 'string') throw new LstmError('INVALID_ARGUMENT', `Tokenizer filters must be a string, got ${describe(filters)}`)
    checkBool('Tokenizer lower', lower)
    if (oovToken !== null && typeof oovToken !== 'string') throw new LstmError('INVALID_ARGUMENT', `Tokenizer oovToken must be a string or null, got ${describe(oovToken)}`)
    // Keras tests `if num_words and i >= num_words`: 0 means no limit, like null.
    this.numWords = numWords === 0 ? null : numWords
    this.filters = filters
    this.lower = lower
    this.split = split
    this.oovToken = oovToken
    this.filtersPattern = filtersToPattern(filters)
  }

  /** Split one text (or lower-case an already split one) the way this tokenizer was configured. */
  private words(text: string | readonly string[], where: string): string[] {
    if (typeof text === 'string') return textToWordSequence(text, this.lower, this.filtersPattern, this.split)
    if (!Array.isArray(text)) throw new LstmError('INVALID_ARGUMENT', `${where} must be a string or an array of words, got ${describe(text)}`)
    return text.map((word: unknown, i) => {
      if (typeof word !== 'string') throw new LstmError('INVALID_ARGUMENT', `${where}[${i}] must be a word (a string), got ${describe(word)}`)
      return this.lower ? word.toLowerCase() : word
    })
  }

  /** Count the words of `texts` (strings, or lists of words used as they are) and rebuild `wordIndex`. */
  fitOnTexts(texts: Iterable<string | readonly string[]>): void {
    // Every text is split before any is counted, so a bad one leaves the tokenizer as it was.
    const split = [...iterable('fitOnTexts', texts)].map((text, i) => this.words(text, `fitOnTexts: texts[${i}]`))
    for (const words of split) {
      this.documentCount++
      for (const word of words) this.wordCounts.set(word, (this.wordCounts.get(word) ?? 0) + 1)
    }
    // Stable sort by decreasing count: ties keep first appearance, as Python's sort(reverse=True) does.
    const byCount = [...this.wordCounts.entries()].sort((a, b) => b[1] - a[1]).map(([word]) => word)
    const vocabulary = this.oovToken === null ? byCount : [this.oovToken, ...byCount]
    // Like Keras' dict(zip(...)): an oovToken that also occurs in the texts ends with its later index.
    this.wordIndex = new Map()
    vocabulary.forEach((word, i) => this.wordIndex.set(word, i + 1))
    this.indexWord = new Map([...this.wordIndex].map(([word, index]) => [index, word]))
  }

  /** Turn each text into the indices of its words; see {@link TokenizerOptions.numWords} and `oovToken`. */
  textsToSequences(texts: Iterable<string | readonly string[]>): number[][] {
    const oovIndex = this.oovToken === null ? undefined : this.wordIndex.get(this.oovToken)
    const sequences: number[][] = []
    let i = 0
    for (const text of iterable('textsToSequences', texts)) {
      const sequence: number[] = []
      for (const word of this.words(text, `textsToSequences: texts[${i++}]`)) {
        const index = this.wordIndex.get(word)
        const inRange = index !== undefined && (this.numWords === null || index < this.numWords)
        if (inRange) sequence.push(index)
        else if (oovIndex !== undefined) sequence.push(oovIndex)
      }
      sequences.push(sequence)
    }
    return sequences
  }

  /** Turn sequences back into space-separated words, skipping indices that are unknown or `>= numWords`. */
  sequencesToTexts(sequences: Iterable<ArrayLike<number>>): string[] {
    const oovIndex = this.oovToken === null ? undefined : this.wordIndex.get(this.oovToken)
    const texts: string[] = []
    let row = 0
    for (const sequence of iterable('sequencesToTexts', sequences)) {
      if (typeof sequence !== 'object' || sequence === null || typeof sequence.length !== 'number') {
        throw new LstmError('INVALID_ARGUMENT', `sequencesToTexts: sequences[${row}] must be an array of indices, got ${describe(sequence)}`)
      }
      row++
      const words: string[] = []
      for (let i = 0; i < sequence.length; i++) {
        const index = sequence[i]
        const word = this.indexWord.get(index)
        const inRange = word !== undefined && (this.numWords === null || index < this.numWords)
        if (inRange) words.push(word)
        else if (oovIndex !== undefined) words.push(this.indexWord.get(oovIndex)!)
      }
      texts.push(words.join(' '))
    }
    return texts
  }
}

// ---------------------------------------------------------------------------------------------------------------
// padSequences (Keras' keras.utils.pad_sequences)
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link padSequences}. */
export interface PadSequencesOptions {
  /** Length of every output row. Default: the length of the longest sequence. */
  maxlen?: number
  /** Where padding goes in short sequences: `'pre'` (before, the default) or `'post'` (after). */
  padding?: 'pre' | 'post'
  /** Which end of long sequences is cut: `'pre'` (the beginning, the default) or `'post'` (the end). */
  truncating?: 'pre' | 'post'
  /** Padding value. Default: `0`. */
  value?: number
}

const INT32_MIN = -(2 ** 31)

function checkInt32(value: unknown, what: string): void {
  checkInt(`padSequences: ${what}`, value, INT32_MIN, INT32_MAX)
}

/**
 * Pad or cut sequences of token ids to one length, like Keras' `pad_sequences`, into an int32 Tensor of shape
 * [sequences.length, maxlen]. Defaults cut and pad at the start, so the end of each sequence (what an LSTM sees
 * last) is kept.
 */
export function padSequences(sequences: readonly ArrayLike<number>[], options?: PadSequencesOptions | null): Tensor {
  if (!Array.isArray(sequences)) throw new LstmError('INVALID_ARGUMENT', `padSequences: sequences must be an array of sequences, got ${describe(sequences)}`)
  sequences.forEach((sequence: unknown, row) => {
    if (typeof sequence !== 'object' || sequence === null || typeof (sequence as ArrayLike<number>).length !== 'number') {
      throw new LstmError('INVALID_ARGUMENT', `padSequences: sequences[${row}] must be an array of token ids, got ${describe(sequence)}`)
    }
  })
  const o = optionsOf('padSequences', options)
  const { padding = 'pre', truncating = 'pre', value = 0 } = o
  if (padding !== 'pre' && padding !== 'post') {
    throw new LstmError('INVALID_ARGUMENT', `padSequences: padding must be 'pre' or 'post', got ${JSON.stringify(padding)}`)
  }
  if (truncating !== 'pre' && truncating !== 'post') {
    throw new LstmError('INVALID_ARGUMENT', `padSequences: truncating must be 'pre' or 'post', got ${JSON.stringify(truncating)}`)
  }
  checkInt32(value, 'value')
  let maxlen = o.maxlen
  if (maxlen === undefined) {
    maxlen = 0
    for (const sequence of sequences) maxlen = Math.max(maxlen, sequence.length)
  }
  checkInt('padSequences: maxlen', maxlen, 0)

  const out = new Int32Array(sequences.length * maxlen)
  if (value !== 0) out.fill(value)
  sequences.forEach((sequence, row) => {
    const kept = Math.min(sequence.length, maxlen)
    const from = truncating === 'pre' ? sequence.length - kept : 0
    const to = row * maxlen + (padding === 'pre' ? maxlen - kept : 0)
    for (let i = 0; i < kept; i++) {
      const id = sequence[from + i]
      if (!Number.isInteger(id) || id < INT32_MIN || id > INT32_MAX) checkInt32(id, `sequences[${row}][${from + i}]`)
      out[to + i] = id
    }
  })
  return tensor(out, [sequences.length, maxlen])
}
