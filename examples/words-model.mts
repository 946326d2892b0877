import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Sequential, layers, tensor, text } from 'lstm-native'

// The passage bundled with the package, as word ids (the most frequent word is 0).
const pkg = dirname(createRequire(import.meta.url).resolve('lstm-native/package.json'))
const words = text.readWords(join(pkg, 'data', 'meditations-5-20.txt'))
const { dictionary, reverseDictionary } = text.buildVocabulary(words)
const ids = words.map((w) => dictionary.get(w) ?? 0)

// The article's model: three word ids in, as raw numbers, two LSTM(512) layers, a score for every word out.
const normal = { type: 'randomNormal', mean: 0, stddev: 1 } as const
const model = new Sequential([
  layers.lstm({ units: 512, returnSequences: true, inputShape: [3, 1] }),
  layers.lstm({ units: 512 }),
  layers.dense({ units: reverseDictionary.length, kernelInitializer: normal, biasInitializer: normal }),
])
model.compile({
  loss: { type: 'sparseCategoricalCrossentropy', fromLogits: true },
  optimizer: { type: 'rmsprop', learningRate: 0.001, rho: 0.9, epsilon: 1e-10 },
  metrics: ['accuracy'],
})

// Every 3-word window and the word after it, one sample per step. The epochs can be given on the command line
// (`node words-model.mjs 50`); 500 epochs are the article's 50,000 steps.
const n = ids.length - 3
const x = new Float32Array(n * 3)
const y = new Int32Array(n)
for (let i = 0; i < n; i++) {
  x.set(ids.slice(i, i + 3), i * 3)
  y[i] = ids[i + 3]
}
const epochs = Number(process.argv[2] ?? 500)
const history = await model.fit(tensor(x, [n, 3, 1]), tensor(y, [n]), { epochs, batchSize: 1, verbose: 0 })
console.log(`accuracy in the last epoch: ${history.history.accuracy.at(-1)}`)

// Generation slides the window the model was trained on: the last three words in, the most likely next word out.
const out = ['In', 'one', 'respect']
for (let k = 0; k < 20; k++) {
  const window = out.slice(-3).map((w) => dictionary.get(w) ?? 0)
  const scores = (await model.predict(tensor(new Float32Array(window), [1, 3, 1]))).data
  let best = 0
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i
  out.push(reverseDictionary[best])
}
console.log(out.join(' '))
