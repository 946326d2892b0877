import { createServer } from 'node:http'
import { predictReview, Sequential } from 'lstm-native'

// The sentiment model (examples/imdb.mts saves it) behind your own HTTP route. With enableBatching, the reviews that
// arrive while a batch runs are run together as the next one, and each request still gets its own answer.
const model = await Sequential.load('imdb.safetensors')
model.enableBatching({ maxBatchSize: 32 })

const server = createServer(async (req, res) => {
  let body = ''
  for await (const chunk of req) body += chunk
  try {
    const { review } = JSON.parse(body) as { review: string }
    res.end(JSON.stringify({ positive: await predictReview(model, review) }))
  } catch (err) {
    res.statusCode = 400
    res.end(JSON.stringify({ error: { code: (err as { code?: string }).code ?? 'INVALID_ARGUMENT', message: String(err) } }))
  }
}).listen(8081, '127.0.0.1')

// Three requests at once, as three clients would send them; then stop.
const ask = (review: string) => fetch('http://127.0.0.1:8081/', { method: 'POST', body: JSON.stringify({ review }) }).then((r) => r.json())
console.log(await Promise.all(['A moving, beautifully acted film.', 'Dull and far too long.', 'Not bad at all.'].map(ask)))
server.close()
