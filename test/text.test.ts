import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LstmError } from '../src/errors.js'
import { bundledDataPath, packageRoot } from '../src/paths.js'
import { buildVocabulary, KERAS_FILTERS, padSequences, readWords, Tokenizer } from '../src/text.js'

const scratch = mkdtempSync(join(tmpdir(), 'lstm-native-text-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** The rows of a 2-D int32 tensor as plain arrays, for readable expectations. */
function rows(t: { data: Int32Array | Float32Array; shape: readonly number[] }): number[][] {
  const [n, width] = t.shape
  return Array.from({ length: n }, (_, i) => Array.from(t.data.subarray(i * width, (i + 1) * width)))
}

function expectLstmError(fn: () => unknown, code: string, message: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(LstmError)
  expect((thrown as LstmError).code).toBe(code)
  expect((thrown as LstmError).message).toMatch(message)
}

describe('readWords', () => {
  it('splits on any whitespace, like Python str.split()', () => {
    const file = join(scratch, 'words.txt')
    writeFileSync(file, '  long ago ,\tthe mice\n\nhad a general council .\r\n')
    expect(readWords(file)).toEqual(['long', 'ago', ',', 'the', 'mice', 'had', 'a', 'general', 'council', '.'])
  })

  it('reads the bundled next-word passage', () => {
    const words = readWords(bundledDataPath('meditations-5-20.txt'))
    expect(words.slice(0, 4)).toEqual(['In', 'one', 'respect', 'man'])
    expect(words.at(-1)).toBe('.')
    expect(words.length).toBe(139) // as `wc -w`
  })

  it('names the path of a missing file', () => {
    const missing = join(scratch, 'no-such-corpus.txt')
    expectLstmError(() => readWords(missing), 'IO', new RegExp(`${missing}.*ENOENT`))
  })
})

describe('buildVocabulary', () => {
  it('numbers words by decreasing frequency from 0', () => {
    const { dictionary, reverseDictionary } = buildVocabulary('b a b c a b'.split(' '))
    expect(reverseDictionary).toEqual(['b', 'a', 'c'])
    expect([...dictionary]).toEqual([['b', 0], ['a', 1], ['c', 2]])
  })

  it('breaks ties by first appearance, like Counter.most_common()', () => {
    const { reverseDictionary } = buildVocabulary('z y x y z w'.split(' '))
    expect(reverseDictionary).toEqual(['z', 'y', 'x', 'w'])
  })

  it('inverts exactly', () => {
    const { dictionary, reverseDictionary } = buildVocabulary(readWords(bundledDataPath('meditations-5-20.txt')))
    reverseDictionary.forEach((word, id) => expect(dictionary.get(word)).toBe(id))
    expect(dictionary.size).toBe(reverseDictionary.length)
  })

  it('gives an empty vocabulary for no words', () => {
    expect(buildVocabulary([])).toEqual({ dictionary: new Map(), reverseDictionary: [] })
  })
})

describe('Tokenizer', () => {
  const texts = ['The cat sat on the mat.', 'The dog ate my homework!']

  it('indexes words from 1 by count, ties in order of first appearance (Keras defaults)', () => {
    const tokenizer = new Tokenizer()
    tokenizer.fitOnTexts(texts)
    expect([...tokenizer.wordIndex]).toEqual([
      ['the', 1], ['cat', 2], ['sat', 3], ['on', 4], ['mat', 5], ['dog', 6], ['ate', 7], ['my', 8], ['homework', 9],
    ])
    expect(tokenizer.wordCounts.get('the')).toBe(3)
    expect(tokenizer.wordCounts.get('cat')).toBe(1)
    expect(tokenizer.indexWord.get(9)).toBe('homework')
    expect(tokenizer.documentCount).toBe(2)
    expect(tokenizer.filters).toBe(KERAS_FILTERS)
  })

  it('drops unknown words without an oovToken', () => {
    const tokenizer = new Tokenizer()
    tokenizer.fitOnTexts(texts)
    expect(tokenizer.textsToSequences(['The cat ate THE homework', 'a cat, unknown!'])).toEqual([[1, 2, 7, 1, 9], [2]])
  })

  it('keeps only indices below numWords, but indexes every word', () => {
    const tokenizer = new Tokenizer({ numWords: 4 })
    tokenizer.fitOnTexts(texts)
    expect(tokenizer.wordIndex.size).toBe(9)
    expect(tokenizer.textsToSequences(['the cat ate the homework on the mat'])).toEqual([[1, 2, 1, 1]])
  })

  it('gives the oovToken index 1 and uses it for unknown and cut words', () => {
    const tokenizer = new Tokenizer({ numWords: 5, oovToken: '<OOV>' })
    tokenizer.fitOnTexts(texts)
    expect(tokenizer.wordIndex.get('<OOV>')).toBe(1)
    expect(tokenizer.wordIndex.get('the')).toBe(2)
    // the=2 cat=3 sat=4 kept; on=5 and homework=10 are cut, zebra is unknown.
    expect(tokenizer.textsToSequences(['the cat sat on zebra homework'])).toEqual([[2, 3, 4, 1, 1, 1]])
    expect(tokenizer.sequencesToTexts([[2, 3, 4, 5, 99]])).toEqual(['the cat sat <OOV> <OOV>'])
  })

  it('numWords 0 means no limit, as Keras tests it for truth', () => {
    const tokenizer = new Tokenizer({ numWords: 0 })
    tokenizer.fitOnTexts(texts)
    expect(tokenizer.textsToSequences(['homework'])).toEqual([[9]])
  })

  it('removes the filter characters, and keeps them when filters is empty', () => {
    const keras = new Tokenizer()
    keras.fitOnTexts(['Hello, world! (hello)\tworld\nend'])
    expect([...keras.wordIndex.keys()]).toEqual(['hello', 'world', 'end'])

    const none = new Tokenizer({ filters: '' })
    none.fitOnTexts(['Hello, world!'])
    expect([...none.wordIndex.keys()]).toEqual(['hello,', 'world!'])

    const custom = new Tokenizer({ filters: '-]^\\' })
    custom.fitOnTexts(['a-b]c^d\\e'])
    expect([...custom.wordIndex.keys()]).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('keeps case with lower: false, and splits on another separator', () => {
    const cased = new Tokenizer({ lower: false })
    cased.fitOnTexts(['Hello hello Hello'])
    expect([...cased.wordIndex]).toEqual([['Hello', 1], ['hello', 2]])

    const commas = new Tokenizer({ split: ',', filters: '' })
    commas.fitOnTexts(['a,b,,c,a'])
    expect([...commas.wordIndex]).toEqual([['a', 1], ['b', 2], ['c', 3]])
  })

  it('accumulates counts over several fits and re-ranks', () => {
    const tokenizer = new Tokenizer()
    tokenizer.fitOnTexts(['x y'])
    expect(tokenizer.wordIndex.get('y')).toBe(2)
    tokenizer.fitOnTexts(['y'])
    expect([...tokenizer.wordIndex]).toEqual([['y', 1], ['x', 2]])
    expect(tokenizer.documentCount).toBe(2)
  })

  it('takes texts already split into words', () => {
    const tokenizer = new Tokenizer()
    tokenizer.fitOnTexts([['New', 'York'], ['new']])
    expect(tokenizer.textsToSequences([['NEW', 'york', 'city']])).toEqual([[1, 2]])
  })

  it('rejects bad options', () => {
    expectLstmError(() => new Tokenizer({ numWords: -1 }), 'INVALID_ARGUMENT', /numWords/)
    expectLstmError(() => new Tokenizer({ numWords: 2.5 }), 'INVALID_ARGUMENT', /numWords/)
    expectLstmError(() => new Tokenizer({ split: '' }), 'INVALID_ARGUMENT', /split/)
  })
})

describe('padSequences', () => {
  const sequences = [[1, 2, 3], [4, 5], [6]]

  it('pads and cuts at the start by default, to the longest sequence', () => {
    const padded = padSequences(sequences)
    expect(padded.dtype).toBe('int32')
    expect(padded.shape).toEqual([3, 3])
    expect(rows(padded)).toEqual([[1, 2, 3], [0, 4, 5], [0, 0, 6]])
    expect(rows(padSequences(sequences, { maxlen: 2 }))).toEqual([[2, 3], [4, 5], [0, 6]])
  })

  it("pads after with padding: 'post'", () => {
    expect(rows(padSequences(sequences, { padding: 'post' }))).toEqual([[1, 2, 3], [4, 5, 0], [6, 0, 0]])
  })

  it("cuts the end with truncating: 'post'", () => {
    expect(rows(padSequences(sequences, { maxlen: 2, truncating: 'post' }))).toEqual([[1, 2], [4, 5], [0, 6]])
    // Keras: pad_sequences([[1,2,3,4,5]], maxlen=3, padding='post', truncating='pre') == [[3,4,5]]
    expect(rows(padSequences([[1, 2, 3, 4, 5]], { maxlen: 3, padding: 'post' }))).toEqual([[3, 4, 5]])
    expect(rows(padSequences([[1, 2, 3, 4, 5], [7]], { maxlen: 3, padding: 'post', truncating: 'post' }))).toEqual([
      [1, 2, 3],
      [7, 0, 0],
    ])
  })

  it('pads with value', () => {
    expect(rows(padSequences(sequences, { maxlen: 4, value: -1 }))).toEqual([[-1, 1, 2, 3], [-1, -1, 4, 5], [-1, -1, -1, 6]])
  })

  it('handles empty sequences, maxlen 0 and no sequences', () => {
    expect(rows(padSequences([[], [1]], { value: 9 }))).toEqual([[9], [1]])
    expect(padSequences(sequences, { maxlen: 0 }).shape).toEqual([3, 0])
    expect(padSequences([]).shape).toEqual([0, 0])
  })

  it('takes typed arrays as sequences', () => {
    expect(rows(padSequences([Int32Array.of(5, 6), new Float32Array([7])], { maxlen: 3 }))).toEqual([[0, 5, 6], [0, 0, 7]])
  })

  it('rejects bad options and ids that are not int32 integers', () => {
    expectLstmError(() => padSequences(sequences, { padding: 'middle' as 'pre' }), 'INVALID_ARGUMENT', /padding/)
    expectLstmError(() => padSequences(sequences, { truncating: 'both' as 'pre' }), 'INVALID_ARGUMENT', /truncating/)
    expectLstmError(() => padSequences(sequences, { maxlen: -1 }), 'INVALID_ARGUMENT', /maxlen/)
    expectLstmError(() => padSequences(sequences, { value: 0.5 }), 'INVALID_ARGUMENT', /value/)
    expectLstmError(() => padSequences([[1, 2.5]]), 'INVALID_ARGUMENT', /sequences\[0\]\[1\].*2\.5/)
    expectLstmError(() => padSequences([[2 ** 31]]), 'INVALID_ARGUMENT', /sequences\[0\]\[0\]/)
  })
})

describe('bundled data', () => {
  it('finds the package root and its data folder', () => {
    expect(bundledDataPath('imdb-sample.tar.gz')).toBe(join(packageRoot(), 'data', 'imdb-sample.tar.gz'))
  })

  it('rejects paths and names missing files', () => {
    expectLstmError(() => bundledDataPath('../package.json'), 'INVALID_ARGUMENT', /plain file name/)
    expectLstmError(() => bundledDataPath('nothing-here.bin'), 'IO', /nothing-here\.bin is missing/)
  })
})
