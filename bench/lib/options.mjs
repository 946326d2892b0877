// Command-line options of `npm run bench`.
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'

export const WORKLOADS = ['imdb', 'gru', 'cnn', 'infer', 'words', 'generate', 'lag', 'serve']
/** The workloads that need no IMDB data. */
export const WITHOUT_IMDB = ['words', 'generate']

export const USAGE = `npm run bench -- [options]

  --reps N               repetitions of each measurement, alternating lstm-native and the peers (default 3)
  --only LIST            comma-separated subset of ${WORKLOADS.join(',')} (default: all)
  --quick                tiny sizes for a smoke test (ignores --data): 200 + 200 IMDB reviews cut from the bundled
                         sample (peers on the same reviews), 500 next-word steps, 3 x 5 PyTorch probe steps
  --data TAR             aclImdb_v1.tar.gz (default ../shared/data/aclImdb_v1.tar.gz from the repo)
  --anchors DIR          the peer scripts (default ../shared/anchors from the repo)
  --threads N            compute threads of every framework (default 2); IMDB training also runs lstm-native at 1
  --epochs N             IMDB training epochs of imdb, gru and cnn (default 1)
  --steps N              lstm-native next-word steps (default 5000; --quick 500)
  --torch-words-steps N  steps in each of the 3 timed runs of bench/peers/torch_words_probe.py (default 100; --quick 20)
  --generate-steps N     steps in each of the 3 timed runs of the generate workload, both sides (default 2000; --quick 100)
  --no-peers             lstm-native only
  --no-install           never create or pip-install bench/.venv (peers not importable are skipped)
  --verbose              echo every line the measured programs print
  --setup                only prepare (venv, NPZ, lstm-native's tokenized cache) and measure nothing

Peers' Python: $ANCHORS_PY when set, else bench/.venv (created on first use).`

export function parseOptions(argv, repo) {
  const { values } = parseArgs({
    args: argv,
    options: {
      reps: { type: 'string', default: '3' },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      data: { type: 'string' },
      anchors: { type: 'string' },
      threads: { type: 'string', default: '2' },
      epochs: { type: 'string', default: '1' },
      steps: { type: 'string' },
      'torch-words-steps': { type: 'string' },
      'generate-steps': { type: 'string' },
      'no-peers': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      setup: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  })
  const int = (name, v, min = 1) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} expects an integer ≥ ${min}, got ${JSON.stringify(v)}`)
    return n
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : WORKLOADS
  for (const w of only) if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${JSON.stringify(w)} (known: ${WORKLOADS.join(', ')})`)
  const quick = values.quick
  return {
    help: values.help,
    reps: int('reps', values.reps),
    only,
    quick,
    // Given paths are relative to the working directory; the defaults to the repository.
    // --quick: run.mjs cuts a small archive from the bundled sample.
    data: quick ? null : values.data ? resolve(values.data) : resolve(repo, '../shared/data/aclImdb_v1.tar.gz'),
    anchors: values.anchors ? resolve(values.anchors) : resolve(repo, '../shared/anchors'),
    threads: int('threads', values.threads),
    epochs: int('epochs', values.epochs),
    steps: int('steps', values.steps ?? (quick ? '500' : '5000')),
    torchWordsSteps: int('torch-words-steps', values['torch-words-steps'] ?? (quick ? '5' : '100')),
    generateSteps: int('generate-steps', values['generate-steps'] ?? (quick ? '100' : '2000')),
    peers: !values['no-peers'],
    install: !values['no-install'],
    verbose: values.verbose,
    setupOnly: values.setup,
  }
}
