// The `lstm-native` executable (package.json `bin`).
import { main } from './cli.js'

main().then((code) => {
  process.exitCode = code
})
