// The tutorial's next-word model, as a script: `npx tsx scripts/train-words.ts [--steps 50000] [--embedding] ...`
// (the same options as `lstm-native train words`).
import { main } from '../src/cli.js'

main([process.argv[0], 'lstm-native', 'train', 'words', ...process.argv.slice(2)]).then((code) => {
  process.exitCode = code
})
