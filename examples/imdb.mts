import { Sequential, layers, tensor, callbacks, datasets, padSequences } from 'lstm-native'

// The reviews, shuffled as Keras's imdb.load_data does (seed 113), the 1,000 most frequent words kept.
const { xTrain, yTrain, xTest, yTest } = await datasets.imdb.load({ path: 'aclImdb_v1.tar.gz', numWords: 1000 })
const x = padSequences(xTrain, { maxlen: 200 }) // int32 [25000, 200], 'pre' padding and truncation
const y = tensor(yTrain, [yTrain.length, 1])

const model = new Sequential([
  layers.embedding({ inputDim: 1000, outputDim: 50 }),
  layers.dropout({ rate: 0.2 }),
  layers.lstm({ units: 100, dropout: 0.2, recurrentDropout: 0.2 }),
  layers.dense({ units: 250, activation: 'relu' }),
  layers.dropout({ rate: 0.2 }),
  layers.dense({ units: 1, activation: 'sigmoid' }),
], { seed: 42 })
model.summary()
model.compile({ loss: 'binaryCrossentropy', optimizer: 'adam', metrics: ['accuracy'] })
await model.fit(x, y, { epochs: 3, batchSize: 64, validationSplit: 0.1,
  callbacks: [callbacks.earlyStopping({ monitor: 'val_loss', patience: 2, restoreBestWeights: true })] })
console.log(await model.evaluate(padSequences(xTest, { maxlen: 200 }), tensor(yTest, [yTest.length, 1]), { batchSize: 500 }))
await model.save('imdb.safetensors')
