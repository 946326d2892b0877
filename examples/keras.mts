import { Sequential, padSequences } from 'lstm-native'

// The model Keras trained and saved with model.save('imdb_lstm.keras') (a Keras 2 or Keras 3 .h5 file works too):
// the architecture, the weights (converted to lstm-native's layout) and the loss and optimizer.
const model = await Sequential.fromKeras('imdb_lstm.keras')
model.summary()

// Reviews as keras.datasets.imdb.load_data encodes them: 1 starts a review, 2 is a word outside the vocabulary,
// a word of rank r is r + 3. padSequences pads and cuts at the start, as Keras's pad_sequences does.
const reviews = [
  [1, 14, 22, 16, 43, 530, 973, 2, 2, 65, 458],
  [1, 194, 2, 2, 78, 228, 5, 6, 2, 2, 2, 134, 26, 4, 715],
]
const positive = await model.predict(padSequences(reviews, { maxlen: 200 }))
console.log([...positive.data].map((p) => p.toFixed(3)).join(' '))

// And back: keras.saving.load_model('from-node.keras') opens this file and predicts the same.
await model.toKeras('from-node.keras')
