/**
 * A small, strictly typed program over the public API of lstm-native. It is only type-checked (by
 * test/typecheck.test.ts), never run. Each `@ts-expect-error` marks a mistake the types must catch: if the types
 * stopped catching it, the directive itself would become the error.
 */
import {
  callbacks,
  type Callback,
  type CompileOptions,
  type ErrorCode,
  type EvaluateResult,
  type FitOptions,
  History,
  layers,
  type Logs,
  LstmError,
  Sequential,
  type Tensor,
  tensor,
  type Weights,
} from '../../src/index.js'

export async function main(signal: AbortSignal): Promise<number> {
  const model = new Sequential(
    [
      layers.embedding({ inputDim: 1000, outputDim: 32, maskZero: true }),
      layers.lstm({ units: 64, dropout: 0.2, recurrentDropout: 0.1, returnSequences: false }),
      layers.dropout({ rate: 0.5 }),
      layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: 'glorotUniform' }),
    ],
    { seed: 42, numThreads: 2, name: 'imdb' },
  )
  const compileOptions: CompileOptions = { loss: 'binaryCrossentropy', optimizer: { type: 'adam', learningRate: 1e-3, clipnorm: 1 }, metrics: ['accuracy'] }
  model.compile(compileOptions)

  const x: Tensor = tensor(new Int32Array(4 * 100), [4, 100])
  const y: Tensor = tensor(new Float32Array([0, 1, 0, 1]), [4, 1])

  const logger: Callback = {
    onEpochEnd(epoch: number, logs?: Logs) {
      console.log(epoch, logs?.loss.toFixed(4))
    },
  }
  const options: FitOptions = {
    epochs: 2,
    batchSize: 2,
    validationSplit: 0.25,
    verbose: 0,
    signal,
    callbacks: [logger, callbacks.earlyStopping({ monitor: 'val_loss', patience: 1, restoreBestWeights: true }), callbacks.modelCheckpoint({ path: 'best.safetensors', saveBestOnly: true })],
  }
  const history: History = await model.fit(x, y, options)
  const losses: number[] = history.history.loss
  const epochs: number[] = history.epoch

  const result: EvaluateResult = await model.evaluate(x, y, { batchSize: 2 })
  const accuracy: number | undefined = result.accuracy
  const out: Tensor = await model.predict(x)
  const scores: Float32Array | Int32Array = out.data
  const shape: readonly number[] = model.predictSync([[1, 2, 3]]).shape

  const weights: Weights = model.getWeights()
  model.setWeights({ '3.bias': weights['3.bias'] })
  await model.save('model.safetensors', { includeOptimizer: false })
  const again: Sequential = await Sequential.load('model.safetensors')
  const table: string = again.summary(() => {})

  try {
    await model.loadWeights('missing.safetensors')
  } catch (e) {
    if (e instanceof LstmError) {
      const code: ErrorCode = e.code
      if (code === 'IO' || code === 'CORRUPT_WEIGHTS') return -1
    }
    throw e
  }

  // @ts-expect-error `epoch` is not a fit option (it is `epochs`)
  await model.fit(x, y, { epoch: 3 })
  // @ts-expect-error `unit` is not an LSTM option (it is `units`)
  layers.lstm({ unit: 8 })
  // @ts-expect-error not a loss name
  model.compile({ loss: 'hinge' })
  // @ts-expect-error `verbose` is 0 or 1
  await model.fit(x, y, { verbose: 2 })
  // @ts-expect-error tensor data is typed, not a string
  tensor('1,2,3', [3])
  // @ts-expect-error not an error code
  const bad: ErrorCode = 'NOT_A_CODE'

  return losses.length + epochs.length + (accuracy ?? 0) + scores.length + shape.length + table.length + bad.length
}
