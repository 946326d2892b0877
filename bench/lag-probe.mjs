// Preload that measures the event-loop lag of any Node program as a whole, e.g. the CLI:
//   node --import ./bench/lag-probe.mjs dist/cli.js train imdb --data TAR --epochs 1
// At exit it prints LAG_PROBE {"maxGapMs": ..., ...} to stderr (bench/lib/lag.mjs's figures, one phase: "run").
import { lagTimer } from './lib/lag.mjs'

const lag = lagTimer({ unref: true })
lag.enter('run')
process.on('exit', () => process.stderr.write(`LAG_PROBE ${JSON.stringify(lag.stop())}\n`))
