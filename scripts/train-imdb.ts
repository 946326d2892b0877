// The tutorial's IMDB sentiment model, as a script: `npx tsx scripts/train-imdb.ts [--data aclImdb_v1.tar.gz] [--epochs 3] ...`
// (the same options as `lstm-native train imdb`).
import { main } from '../src/cli.js'

main([process.argv[0], 'lstm-native', 'train', 'imdb', ...process.argv.slice(2)]).then((code) => {
  process.exitCode = code
})
