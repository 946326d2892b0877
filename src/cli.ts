/**
 * The `lstm-native` command: the tutorial's two models end to end.
 *   lstm-native train words [--corpus FILE] [--steps 50000] [--units 512] [--seed N] [--save FILE] [--embedding]
 *   lstm-native train imdb  [--data PATH] [--download] [--epochs 3] [--batch-size 64] [--num-words 1000] [--maxlen 200]
 *                           [--cell lstm|gru|rnn] [--conv FILTERS,KERNEL[,POOL]] ...
 *   lstm-native generate --model FILE --prompt "three words here" [--words 30] [--temperature T]
 *   lstm-native train series --csv FILE --target COL [--date COL] [--window 52] [--horizon 1] [--fill linear] ...
 *   lstm-native predict --model FILE "some review text"
 *   lstm-native predict --model FILE --csv FILE [--steps 26]
 *   lstm-native convert IN OUT          (.keras/.h5 → .safetensors, .safetensors → .keras)
 *   lstm-native serve --model FILE [--name NAME] [--host 127.0.0.1] [--port 8080] [--max-batch 32] [--max-delay-ms 2]
 * A --model may be a .safetensors file or a Keras .keras/.h5 file.
 */
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { IMDB_URL } from './datasets/imdb.js'
import { LstmError } from './errors.js'
import { generate } from './generate.js'
import { loadModel, type Sequential } from './model.js'
import { type ImdbModelMetadata, predictReview, trainImdb } from './tasks/imdb.js'
import { forecastCsv, trainSeries } from './tasks/series.js'
import { serveModel } from './serve.js'
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

/** Keras's IMDB word index (`{word: rank}`, rank 1 the most frequent) as the metadata `predictReview` reads. */
function imdbMetadataOf(file: string, model: Sequential, maxlen: number): ImdbModelMetadata {
  let index: unknown
  try {
    index = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new LstmError('IO', `--word-index: cannot read ${file} as JSON: ${(err as Error).message}`, { cause: err })
  }
  if (typeof index !== 'object' || index === null || Array.isArray(index)) throw new LstmError('INVALID_ARGUMENT', `--word-index: ${file} is not a JSON object of word → rank`)
  const first = model.layers[0]
  const numWords = first.type === 'embedding' ? first.inputDim : 0
  const words: string[] = []
  for (const [word, rank] of Object.entries(index)) {
    if (!Number.isInteger(rank) || rank < 1) throw new LstmError('INVALID_ARGUMENT', `--word-index: ${file} gives ${JSON.stringify(word)} the rank ${JSON.stringify(rank)}; ranks are integers from 1`)
    // load_data gives rank r the id r + 3 (index_from) and keeps ids below num_words; words[i] has id i + 3.
    if (rank + 3 < numWords) words[rank] = word
  }
  return { task: 'imdb', maxlen, startChar: 1, oovChar: 2, indexFrom: 3, words: Array.from(words, (w) => w ?? '') }
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

  train
    .command('series')
    .description('forecast a CSV column: windows of past values in, the next values out (LSTM(32), Adam); trains on the first 70% of the rows, validates on the next 15%, reports MAE and RMSE on the last 15% beside the naive baselines')
    .requiredOption('--csv <file>', 'the CSV file, with a header row')
    .requiredOption('--target <column>', 'the column to forecast')
    .option('--date <column>', 'the time column: YYYYMMDD numbers, ISO dates or years (default: the first column)')
    .option('--features <a,b>', 'other columns the model reads beside the target', (v: string) => v.split(',').map((c) => c.trim()).filter(Boolean))
    .option('--window <n>', 'steps in each input window', integer(1), 52)
    .option('--horizon <n>', 'values predicted at once after each window (direct multi-step)', integer(1), 1)
    .addOption(new Option('--fill <method>', 'fill missing values: interpolate, repeat the previous value, or drop the row (default: a missing value is an error)').choices(['linear', 'previous', 'drop']))
    .addOption(new Option('--transform <kind>', "predict the change from the window's last value (difference) or the level itself (none)").choices(['difference', 'none']).default('difference'))
    .addOption(new Option('--scaler <kind>', 'scaling of inputs and targets, fitted on the training span').choices(['standard', 'minmax']).default('standard'))
    .option('--season <n>', 'steps in a season: adds the baseline "the value one season ago"', integer(1))
    .option('--epochs <n>', 'epochs', integer(0), 20)
    .option('--batch-size <n>', 'batch size', integer(1), 32)
    .option('--units <n>', 'units of the recurrent layer', integer(1), 32)
    .addOption(new Option('--cell <kind>', 'the recurrent layer').choices(['lstm', 'gru']).default('lstm'))
    .option('--learning-rate <lr>', "Adam's learning rate (default: 0.001)", positive)
    .option('--seed <n>', 'seed', integer(0), 0)
    .option('--unit <name>', "the target's unit, for the report and the plot (default: \"<target> units\")")
    .option('--save <file>', 'write the trained model (with its scalers and transform) to this .safetensors file')
    .option('--plot <file.svg>', 'draw the test span, actual against predicted, with dates (.svg only)')
    .addOption(threads())
    .action(async (o) => {
      const results: string[] = []
      const r = await trainSeries({
        csv: o.csv,
        target: o.target,
        dateColumn: o.date,
        features: o.features,
        window: o.window,
        horizon: o.horizon,
        fill: o.fill,
        transform: o.transform,
        scaler: o.scaler === 'minmax' ? 'minMax' : 'standard',
        season: o.season,
        epochs: o.epochs,
        batchSize: o.batchSize,
        units: o.units,
        cell: o.cell,
        learningRate: o.learningRate,
        seed: o.seed,
        unit: o.unit,
        numThreads: o.threads,
        save: o.save,
        plot: o.plot,
        // The two result lines must stay the last ones (scripts read them); the other lines go before them.
        log: (line) => (/^(test MAE|baseline last value)/.test(line) ? results.push(line) : console.log(line)),
      })
      console.log(`training ${r.trainSeconds.toFixed(1)} s, whole run ${r.seconds.toFixed(1)} s${o.save ? `; saved to ${o.save}` : ''}${o.plot ? `; plot in ${o.plot}` : ''}`)
      for (const line of results) console.log(line)
    })

  cli
    .command('generate')
    .description('continue a prompt word by word with a model saved by `train words`')
    .requiredOption('--model <file>', 'a model saved by `lstm-native train words --save FILE` (.safetensors, or converted to .keras)')
    .requiredOption('--prompt <words>', 'the words to start from')
    .option('--words <n>', 'words to add', integer(0), 30)
    .option('--temperature <t>', 'sampling temperature; 0 picks the most likely word', nonNegative, 0)
    .option('--seed <n>', 'seed of the sampling', integer(0), 0)
    .action(async (o) => {
      const model = await loadModel(o.model)
      const added = generate(model, { prompt: o.prompt, words: o.words, temperature: o.temperature, seed: o.seed })
      console.log(`${o.prompt} ${added.join(' ')}`)
    })

  cli
    .command('predict')
    .description('the probability that a review is positive (a model from `train imdb`), or a forecast after the end of a CSV file (a model from `train series`, with --csv)')
    .requiredOption('--model <file>', 'a model saved by `lstm-native train imdb --save FILE` or `train series --save FILE`, or a Keras .keras/.h5 sentiment model with --word-index')
    .option('--word-index <file>', "for a model without lstm-native's word index (one trained in Keras): a JSON {word: rank} file, as keras.datasets.imdb.get_word_index() returns, read with load_data's defaults (start 1, out-of-vocabulary 2, ids from 3)")
    .option('--maxlen <n>', 'with --word-index: tokens per review the model was trained on', integer(1), 200)
    .option('--csv <file>', 'forecast after the last row of this file (a series model): one "time value" line per step')
    .option('--steps <n>', 'with --csv: values to forecast (beyond the model\'s horizon, its predictions are fed back)', integer(1), 1)
    .argument('[text...]', 'the review')
    .action(async (text: string[], o) => {
      const model = await loadModel(o.model)
      if (o.csv !== undefined) {
        if (text.length) throw new LstmError('INVALID_ARGUMENT', `predict --csv takes no review text, got ${JSON.stringify(text.join(' '))}`)
        for (const [time, value] of await forecastCsv(model, o.csv, o.steps)) console.log(`${time} ${Number(value.toPrecision(6))}`)
        return
      }
      if (!text.length) throw new LstmError('INVALID_ARGUMENT', 'predict needs the review text, or --csv FILE for a series model')
      if (o.wordIndex !== undefined) model.metadata = { ...imdbMetadataOf(o.wordIndex, model, o.maxlen) }
      const p = await predictReview(model, text.join(' '))
      console.log(p.toFixed(4))
    })
  cli
    .command('convert')
    .description('convert a model between Keras (.keras, .h5) and lstm-native (.safetensors), by the file extensions')
    .argument('<in>', 'a Keras .keras or .h5 file, or a .safetensors file written by lstm-native')
    .argument('<out>', 'a .safetensors file (from Keras) or a .keras file (from .safetensors)')
    .action(async (input: string, output: string) => {
      const kind = (p: string) => (/\.(keras|h5|hdf5)$/i.test(p) ? 'keras' : /\.safetensors$/i.test(p) ? 'safetensors' : undefined)
      const from = kind(input)
      const to = kind(output)
      if (!from || !to || from === to || (to === 'keras' && !/\.keras$/i.test(output))) {
        throw new LstmError('INVALID_ARGUMENT', `convert: expected .keras/.h5 → .safetensors or .safetensors → .keras, got ${JSON.stringify(input)} → ${JSON.stringify(output)}`)
      }
      const model = await loadModel(input)
      if (to === 'keras') await model.toKeras(output)
      else await model.save(output, { includeOptimizer: false })
      console.log(`wrote ${output}`)
    })
  cli
    .command('serve')
    .description("serve a saved model over HTTP, TensorFlow Serving's REST API: POST /v1/models/NAME:predict {\"instances\": [...]}")
    .requiredOption('--model <file>', 'a model saved by `Sequential.save` or `lstm-native train ... --save FILE`')
    .option('--name <name>', "the model's name in the URL (default: the file's base name without its extension)")
    .option('--host <host>', 'the address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--port <n>', 'the port (0: any free one)', integer(0), 8080)
    .option('--max-batch <n>', 'the most instances coalesced into one native batch; 1 turns batching off', integer(1), 32)
    .option('--max-delay-ms <ms>', 'how long a batch waits for more instances when the model is free (while it is busy, they gather anyway)', nonNegative, 2)
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
