import { predictReview, trainImdb } from 'lstm-native'

// Train on the 2,000-review sample bundled with the package (it prints the test accuracy); the saved model keeps
// its word index, so that new text is encoded the way its training reviews were.
const { model } = await trainImdb({ epochs: 3, verbose: 0, save: 'imdb-sample.safetensors' })

for (const review of ['A moving, beautifully acted film.', 'Dull, far too long, and badly written.']) {
  const p = await predictReview(model, review)
  console.log(`${p.toFixed(3)}  ${review}`)
}
