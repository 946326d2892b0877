/**
 * The `lstm-native` command: the tutorial's two models end to end.
 *   lstm-native train words [--corpus FILE] [--steps 50000] [--units 512] [--seed N] [--save FILE] [--embedding]
 *   lstm-native train imdb  [--data PATH] [--download] [--epochs 3] [--batch-size 64] [--num-words 1000] [--maxlen 200]
 *                           [--cell lstm|gru|rnn] [--conv FILTERS,KERNEL[,POOL]] ...
 *   lstm-native generate --model FILE --prompt "three words here" [--words 30] [--temperature T]
 *   lstm-native predict --model FILE "some review text"
 *   lstm-native serve --model FILE [--name NAME] [--host 127.0.0.1] [--port 8080] [--max-batch 32] [--max-delay-ms 2]
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { IMDB_URL } from './datasets/imdb.js'
import { LstmError } from './errors.js'
import { generate } from './generate.js'
import { Sequential } from './model.js'
import { serveModel } from './serve.js'
import { predictReview, trainImdb } from './tasks/imdb.js'
import { trainWords } from './tasks/words.js'

function integer(min: number) {
  return (value: string): number => {
    const n = Number(value)
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}, got ${JSON.stringify(value)}`)
    return n
  }
}

/** `FILTERS,KERNEL[,POOL]`: positive integers. */
function convBlock(value: string): { filters: number; kernelSize: number; poolSize?: number } {
  const parts = value.split(',').map((p) => p.trim())
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1 && Number.isSafeInteger(Number(p)))) {
    throw new InvalidArgumentError(`expected FILTERS,KERNEL[,POOL] as positive integers, got ${JSON.stringify(value)}`)
  }
  const [filters, kernelSize, poolSize] = parts.map(Number)
  return poolSize === undefined ? { filters, kernelSize } : { filters, kernelSize, poolSize }
}

function fraction(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !(n >= 0 && n < 1)) throw new InvalidArgumentError(`expected a number in [0, 1), got ${JSON.stringify(value)}`)
  return n
}

function decayFactor(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !(n > 0 && n <= 1)) throw new InvalidArgumentError(`expected a number in (0, 1], got ${JSON.stringify(value)}`)
  return n
}

function nonNegative(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number ≥ 0, got ${JSON.stringify(value)}`)
  return n
}

function positive(value: string): number {
  const n = Number(value)
  if (value.trim() === '' || !(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number > 0, got ${JSON.stringify(value)}`)
  return n
}

const threads = () => new Option('--threads <n>', 'compute threads (default: one per core)').argParser(integer(1))

export function program(): Command {
  const cli = new Command('lstm-native')
    .description('Train and run LSTM networks at native speed: the next-word and IMDB sentiment tutorial models')
    .showHelpAfterError()
  const train = cli.command('train').description('train one of the tutorial models')

  train
    .command('words')
    .description("the next-word model: three words in, the next word out (2-layer LSTM, RMSProp, single-sample steps)")
    .option('--corpus <file>', 'space-separated tokens (default: the bundled passage)')
    .option('--steps <n>', 'training samples', integer(1), 50_000)
    .option('--units <n>', 'units of each LSTM layer', integer(1), 512)
    .option('--seed <n>', 'seed of the weights and the window offsets', integer(0), 0)
    .option('--embedding', 'feed the word ids through an Embedding and train in batches')
    .option('--batch-size <n>', 'batch size with --embedding', integer(1), 16)
    .option('--context <n>', 'words in before the predicted one', integer(1), 3)
    .option('--learning-rate <lr>', 'learning rate (default: RMSProp 0.001; Adam 0.002 with --embedding)', nonNegative)
    .option('--no-lr-decay', 'with --embedding, keep the learning rate constant instead of a cosine decay to a tenth')
    .option('--save <file>', 'write the trained model (with its vocabulary) to this .safetensors file')
    .addOption(threads())
    .action(async (o) => {
      const r = await trainWords({
        corpus: o.corpus,
        steps: o.steps,
        units: o.units,
        seed: o.seed,
        embedding: Boolean(o.embedding),
        batchSize: o.batchSize,
        contextLength: o.context,
        learningRate: o.learningRate,
        learningRateDecay: o.lrDecay,
        numThreads: o.threads,
        save: o.save,
      })
      console.log(`final 1,000-step average accuracy: ${(r.finalAccuracy * 100).toFixed(2)}% (${r.tokens} tokens, ${r.vocabularySize} words, ${r.seconds.toFixed(1)} s)`)
      if (o.save) console.log(`saved to ${o.save}`)
    })

  train
    .command('imdb')
    .description('the IMDB sentiment model: Embedding, Dropout, LSTM(100), Dense(250, relu), Dropout, Dense(1, sigmoid)')
    .option('--data <path>', 'aclImdb_v1.tar.gz or the extracted folder (default: the bundled 2,000-review sample)')
    .option('--download', `fetch aclImdb_v1.tar.gz (84 MB) when it is missing: to --data's path, else to the cache folder ($LSTM_NATIVE_CACHE or ~/.cache/lstm-native)`)
    .option('--url <url>', 'where --download fetches the archive from', IMDB_URL)
    .option('--no-shuffle', "keep the reviews in file order (negatives, then positives) instead of Keras's load_data permutation (seed 113)")
    .option('--epochs <n>', 'epochs', integer(0), 3)
    .option('--batch-size <n>', 'batch size', integer(1), 64)
    .option('--num-words <n>', 'vocabulary size', integer(4), 1000)
    .option('--maxlen <n>', 'tokens per review (pad and cut at the start)', integer(1), 200)
    .option('--validation-split <f>', 'fraction of training reviews held out for validation', fraction)
    .option('--early-stopping <patience>', 'stop after this many epochs without a better val_loss; restore the best weights', integer(0))
    .option('--seed <n>', 'seed', integer(0), 0)
    .option('--bidirectional', 'read each review in both directions')
    .option('--mask-zero', 'skip the padding inside the LSTM')
    .option('--units <n>', 'LSTM units', integer(1), 100)
    .option('--embedding-dim <n>', 'embedding size', integer(1), 50)
    .option('--dropout <rate>', "the rate of every dropout in the model (the tutorial's 0.2)", fraction, 0.2)
    .addOption(new Option('--cell <kind>', 'the recurrent layer: LSTM (the tutorial), GRU or SimpleRNN, same units and dropouts').choices(['lstm', 'gru', 'rnn']).default('lstm'))
    .option('--conv <filters,kernel[,pool]>', 'a Conv1D(filters, kernel, relu) + MaxPooling1D(pool, default 2) block before the recurrent layer', convBlock)
    .addOption(new Option('--pooling <kind>', "what the dense layers read: the LSTM's last state, or the max or mean of every step's output").choices(['last', 'max', 'average']).default('last'))
    .option('--learning-rate <lr>', "Adam's learning rate (default: 0.001)", positive)
    .option('--lr-decay <f>', 'multiply the learning rate by this after every epoch (default: 1, constant)', decayFactor)
    .option('--clipnorm <c>', 'clip each gradient tensor to this L2 norm (Keras clipnorm; default: no clipping)', positive)
    .option('--save <file>', 'write the trained model to this .safetensors file')
    .option('--plot <file.svg>', 'write loss and accuracy per epoch as an SVG chart (.svg only)')
    .addOption(threads())
    .action(async (o) => {
      const r = await trainImdb({
        data: o.data,
        download: Boolean(o.download),
        url: o.url,
        shuffle: o.shuffle,
        epochs: o.epochs,
        batchSize: o.batchSize,
        numWords: o.numWords,
        maxlen: o.maxlen,
        validationSplit: o.validationSplit,
        earlyStopping: o.earlyStopping,
        seed: o.seed,
        bidirectional: Boolean(o.bidirectional),
        maskZero: Boolean(o.maskZero),
        units: o.units,
        embeddingDim: o.embeddingDim,
        pooling: o.pooling,
        cell: o.cell,
        conv: o.conv,
        dropout: o.dropout,
        learningRate: o.learningRate,
        lrDecay: o.lrDecay,
        clipnorm: o.clipnorm,
        numThreads: o.threads,
        save: o.save,
        plot: o.plot,
      })
      console.log(`done in ${r.seconds.toFixed(1)} s`)
      if (o.save) console.log(`saved to ${o.save}`)
    })

  cli
    .command('generate')
    .description('continue a prompt word by word with a model saved by `train words`')
    .requiredOption('--model <file>', 'a model saved by `lstm-native train words --save FILE`')
    .requiredOption('--prompt <words>', 'the words to start from')
    .option('--words <n>', 'words to add', integer(0), 30)
    .option('--temperature <t>', 'sampling temperature; 0 picks the most likely word', nonNegative, 0)
    .option('--seed <n>', 'seed of the sampling', integer(0), 0)
    .action(async (o) => {
      const model = await Sequential.load(o.model)
      const added = generate(model, { prompt: o.prompt, words: o.words, temperature: o.temperature, seed: o.seed })
      console.log(`${o.prompt} ${added.join(' ')}`)
    })

  cli
    .command('predict')
    .description('the probability that a review is positive, with a model saved by `train imdb`')
    .requiredOption('--model <file>', 'a model saved by `lstm-native train imdb --save FILE`')
    .argument('<text...>', 'the review')
    .action(async (text: string[], o) => {
      const model = await Sequential.load(o.model)
      const p = await predictReview(model, text.join(' '))
      console.log(p.toFixed(4))
    })
  cli
    .command('serve')
    .description("serve a saved model over HTTP, TensorFlow Serving's REST API: POST /v1/models/NAME:predict {\"instances\": [...]}")
    .requiredOption('--model <file>', 'a model saved by `Sequential.save` or `lstm-native train ... --save FILE`')
    .option('--name <name>', "the model's name in the URL (default: the file's base name without its extension)")
    .option('--host <host>', 'the address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'the port (0: any free one)', integer(0), 8080)
    .option('--max-batch <n>', 'the most instances coalesced into one native batch; 1 turns batching off', integer(1), 32)
    .option('--max-delay-ms <ms>', 'how long a batch waits for more instances', nonNegative, 2)
    .option('--timeout-ms <ms>', 'answer 504 to a request not answered by then', integer(1), 30_000)
    .option('--max-body-bytes <n>', 'the largest request body (larger: 413)', integer(1), 1 << 20)
    .option('--max-queue <n>', 'the most requests waiting for predictions (more: 503 with Retry-After)', integer(1), 1024)
    .option('--verbose', 'a log line per request')
    .addOption(threads())
    .action(async (o) => {
      const server = await serveModel({
        model: o.model,
        name: o.name,
        host: o.host,
        port: o.port,
        maxBatch: o.maxBatch,
        maxDelayMs: o.maxDelayMs,
        timeoutMs: o.timeoutMs,
        maxBodyBytes: o.maxBodyBytes,
        maxQueue: o.maxQueue,
        numThreads: o.threads,
        verbose: Boolean(o.verbose),
      })
      // SIGTERM (and Ctrl-C): stop accepting, answer the requests in flight, exit 0.
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGTERM', stop)
          process.off('SIGINT', stop)
          console.log('lstm-native serve: stopping (answering the requests in flight)')
          void server.close().then(resolve)
        }
        process.on('SIGTERM', stop)
        process.on('SIGINT', stop)
      })
    })

  // `lstm-native --help` shows every command's options too, not only the command names.
  const leaves = (command: Command): Command[] => (command.commands.length ? command.commands.flatMap(leaves) : [command])
  cli.addHelpText('after', () => ['', 'Each command and its options (also `lstm-native <command> --help`, e.g. `lstm-native train imdb --help`):', ...leaves(cli).map((c) => `\n${c.helpInformation().trimEnd()}`)].join('\n'))
  return cli
}

export async function main(argv = process.argv): Promise<number> {
  try {
    await program().parseAsync(argv)
    return 0
  } catch (e) {
    const err = e instanceof LstmError ? e : undefined
    console.error(`lstm-native: ${err ? `${err.code}: ` : ''}${e instanceof Error ? e.message : String(e)}`)
    return 1
  }
}
