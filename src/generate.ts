/**
 * Text generation: continue a prompt word by word with a next-word model, feeding it text the way it was trained.
 * A window model (what `train words` makes: each sample is `contextLength` words read from a zero state) sees the
 * last `contextLength` words from a zero state for every new word; carrying one LSTM state across the whole text
 * would show it a sequence it never saw. Only a model trained on running text steps its state word by word.
 */
import { LstmError } from './errors.js'
import type { Sequential } from './model.js'
import { tensor } from './tensor.js'
import { checkInt, describe, optionsOf } from './validate.js'

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** The words to start from (a string is split on whitespace). */
  prompt: string | string[]
  /** How many words to add. Default 30. */
  words?: number
  /** Sampling temperature; 0 picks the most likely word every time. Default 0. */
  temperature?: number
  /** Seeds the sampling. Default 0. */
  seed?: number
}

/** What a next-word model saves in its metadata so that `generate` needs nothing else. */
export interface WordModelMetadata {
  /** Marks a next-word model. */
  task: 'words'
  /** Word of each id, most frequent first. */
  vocabulary: string[]
  /** `'float'`: ids fed as raw floats `[B, T, 1]` (the tutorial); `'embedding'`: int32 ids `[B, T]`. */
  input: 'float' | 'embedding'
  /**
   * How the model was trained. `'windows'` (what `train words` does): samples of `contextLength` words, each read
   * from a zero state; `generate` slides that window. `'running'`: running text with the LSTM state carried on;
   * `generate` steps the state one word at a time. Default `'windows'`.
   */
  training?: 'windows' | 'running'
  /**
   * Words per training window. Files saved without it (older `train words` files): the first layer's input length,
   * else 3, the default of `train words`.
   */
  contextLength?: number
}

/** A small seeded generator (mulberry32) for sampling and the training scripts' offsets. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function wordModelMetadata(model: Sequential): WordModelMetadata {
  if (typeof model !== 'object' || model === null || typeof model.metadata !== 'object' || model.metadata === null) {
    throw new LstmError('INVALID_ARGUMENT', `expected a Sequential model with metadata, got ${describe(model)}`)
  }
  const m = model.metadata as Partial<WordModelMetadata>
  if (m.task !== 'words' || !Array.isArray(m.vocabulary) || (m.input !== 'float' && m.input !== 'embedding')) {
    throw new LstmError('INVALID_ARGUMENT', 'this model carries no vocabulary: train it with `lstm-native train words` (or save metadata { task: "words", vocabulary, input })')
  }
  if (m.training !== undefined && m.training !== 'windows' && m.training !== 'running') {
    throw new LstmError('INVALID_ARGUMENT', `the model's metadata says training: ${JSON.stringify(m.training)}; expected 'windows' or 'running'`)
  }
  if (m.contextLength !== undefined && !(Number.isInteger(m.contextLength) && m.contextLength >= 1)) {
    throw new LstmError('INVALID_ARGUMENT', `the model's metadata says contextLength: ${JSON.stringify(m.contextLength)}; expected a positive integer`)
  }
  return m as WordModelMetadata
}

/** The window a window model reads: its metadata's, else its first layer's fixed input length, else 3. */
function windowLength(model: Sequential, meta: WordModelMetadata): number {
  if (meta.contextLength !== undefined) return meta.contextLength
  const inputShape = (model.layers[0] as { inputShape?: readonly (number | null)[] }).inputShape
  const steps = inputShape?.[0]
  return typeof steps === 'number' && steps >= 1 ? steps : 3
}

/** Picks the next id from the model's output row (logits for a linear output, probabilities for softmax). */
function pick(row: ArrayLike<number>, logits: boolean, temperature: number, random: () => number): number {
  let best = 0
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i
  if (temperature <= 0) return best
  const scores = Array.from(row, (v) => (logits ? v : Math.log(Math.max(v, 1e-12))) / temperature)
  const max = Math.max(...scores)
  const weights = scores.map((s) => Math.exp(s - max))
  let r = random() * weights.reduce((a, b) => a + b, 0)
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]
    if (r <= 0) return i
  }
  return best
}

/** Continues `prompt` by `words` words; returns only the new words. */
export function generate(model: Sequential, options: GenerateOptions): string[] {
  const meta = wordModelMetadata(model)
  const o = optionsOf('generate', options)
  const prompt = typeof o.prompt === 'string' ? o.prompt.split(/\s+/).filter(Boolean) : o.prompt
  if (!Array.isArray(prompt) || prompt.some((w) => typeof w !== 'string')) {
    throw new LstmError('INVALID_ARGUMENT', `generate: prompt must be a string or an array of words, got ${describe(o.prompt)}`)
  }
  const { words: count = 30, temperature = 0 } = o
  checkInt('generate: words', count, 0)
  if (prompt.length === 0) throw new LstmError('INVALID_ARGUMENT', 'generate: the prompt is empty')
  if (typeof temperature !== 'number' || !(temperature >= 0 && temperature < Infinity)) throw new LstmError('INVALID_ARGUMENT', `generate: temperature must be a finite number ≥ 0, got ${describe(temperature)}`)
  if (o.seed !== undefined && (typeof o.seed !== 'number' || !Number.isFinite(o.seed))) throw new LstmError('INVALID_ARGUMENT', `generate: seed must be a number, got ${describe(o.seed)}`)
  const index = new Map(meta.vocabulary.map((w, i) => [w, i]))
  const ids = prompt.map((w) => {
    const id = index.get(w)
    if (id === undefined) throw new LstmError('INVALID_ARGUMENT', `generate: the word ${JSON.stringify(w)} is not in the model's vocabulary of ${meta.vocabulary.length} words`)
    return id
  })
  const last = model.layers[model.layers.length - 1]
  const logits = !(last.type === 'dense' && last.activation === 'softmax')
  const random = seededRandom(o.seed ?? 0)
  const asInput = (window: number[]) =>
    meta.input === 'embedding' ? tensor(Int32Array.from(window), [1, window.length]) : tensor(Float32Array.from(window), [1, window.length, 1])
  const added: string[] = []
  if (meta.training === 'running') {
    const step = (id: number): Float32Array => model.predictStep(asInput([id])).data as Float32Array
    model.resetStates()
    try {
      let out: Float32Array = new Float32Array(0)
      for (const id of ids) out = step(id)
      for (let k = 0; k < count; k++) {
        const next = pick(out, logits, temperature, random)
        added.push(meta.vocabulary[next])
        if (k + 1 < count) out = step(next)
      }
    } finally {
      model.resetStates()
    }
    return added
  }
  // A prompt shorter than the window is read as it is, a shorter window than the model was trained on.
  const n = windowLength(model, meta)
  const text = [...ids]
  for (let k = 0; k < count; k++) {
    const out = model.predictSync(asInput(text.slice(-n))).data as Float32Array
    const next = pick(out, logits, temperature, random)
    added.push(meta.vocabulary[next])
    text.push(next)
  }
  return added
}
