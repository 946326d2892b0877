/**
 * Issue 17, class 5: nested arrays are read exactly as written or refused. A hole, a ragged row, a non-number or a
 * row where a number belongs is `INVALID_ARGUMENT` naming its position, for x and y, token and float inputs, and
 * every method that takes nested arrays; nothing is skipped, shifted or padded.
 */
import { describe, expect, it } from 'vitest'
import { layers, Sequential, tensor, type TensorLike } from '../src/index.js'
import { expectRejects, expectThrows, tokenModel } from './helpers.js'

function floatModel(): Sequential {
  const m = new Sequential([layers.lstm({ units: 2, inputShape: [null, 1] }), layers.dense({ units: 1 })], { seed: 1, numThreads: 1 })
  m.compile({ loss: 'mse', optimizer: 'sgd' })
  return m
}

/* eslint-disable no-sparse-arrays */
// [what, float input [1, 3, 1] (or [2, ...]), token input, the position named]
const BAD: [string, unknown, unknown, string][] = [
  ['a hole in the innermost array', [[[1], [,], [3]]], [[1, , 3]], 'x\\[0, 1'],
  ['a hole where a row belongs', [[[1], , [3]]], [[1, 2, 3], , [1, 2, 3]], 'x\\[0, 1\\]|x\\[1\\]'],
  ['a trailing hole', [[[1], [2], [3]], ,], [[1, 2, 3], ,], 'x\\[1\\]'],
  ['a ragged row', [[[1], [2], [3]], [[1], [2]]], [[1, 2, 3], [1, 2]], 'x\\[1\\]'],
  ['a longer row', [[[1], [2], [3, 4]]], [[1, 2, 3], [1, 2, 3, 4]], 'x\\[(0, 2|1)\\]'],
  ['a string', [[[1], ['2'], [3]]], [[1, '2', 3]], 'x\\[0, 1'],
  ['null', [[[1], [null], [3]]], [[1, null, 3]], 'x\\[0, 1'],
  ['undefined', [[[1], [undefined], [3]]], [[1, undefined, 3]], 'x\\[0, 1'],
  ['a BigInt', [[[1], [2n], [3]]], [[1, 2n, 3]], 'x\\[0, 1'],
  ['a boolean', [[[1], [true], [3]]], [[1, true, 3]], 'x\\[0, 1'],
  ['an array where a number belongs', [[[1], [[2]], [3]]], [[1, [2], 3]], 'x\\[0, 1'],
  ['a number where a row belongs', [[[1], 2, [3]]], [[1, 2, 3], 4], 'x\\[(0, 1|1)\\]'],
  ['an object where a row belongs', [[[1], { 0: 2, length: 1 }, [3]]], [[1, 2, 3], { length: 3 }], 'x\\[(0, 1|1)\\]'],
]
/* eslint-enable no-sparse-arrays */

describe('nested arrays with holes, ragged rows or non-numbers', () => {
  it.each(BAD)('%s: float input, in every method', async (_, floats, __, at) => {
    const m = floatModel()
    const x = floats as TensorLike
    const named = new RegExp(at)
    const y = [[1]]
    await expectRejects(() => m.predict(x), 'INVALID_ARGUMENT', named)
    expectThrows(() => m.predictSync(x), 'INVALID_ARGUMENT', named)
    expectThrows(() => m.predictStep(x), 'INVALID_ARGUMENT', named)
    await expectRejects(() => m.predictOnBatch(x), 'INVALID_ARGUMENT', named)
    await expectRejects(() => m.evaluate(x, y), 'INVALID_ARGUMENT', named)
    await expectRejects(() => m.trainOnBatch(x, y), 'INVALID_ARGUMENT', named)
    await expectRejects(() => m.fit(x, y, { verbose: 0 }), 'INVALID_ARGUMENT', named)
    await expectRejects(() => m.fit([[[1], [2], [3]]], y, { verbose: 0, validationData: [x, y] }), 'INVALID_ARGUMENT', new RegExp(`validationData ${at}`))
  })

  it.each(BAD)('%s: token input', async (_, __, tokens, at) => {
    await expectRejects(() => tokenModel().predict(tokens as TensorLike), 'INVALID_ARGUMENT', new RegExp(at))
  })

  it('as y: a hole, a non-number, a ragged row', async () => {
    const m = tokenModel()
    // eslint-disable-next-line no-sparse-arrays
    await expectRejects(() => m.evaluate([[1, 2, 3]], [[,]] as unknown as TensorLike), 'INVALID_ARGUMENT', /y\[0, 0\] is a hole/)
    await expectRejects(() => m.trainOnBatch([[1, 2, 3]], [['1']] as unknown as TensorLike), 'INVALID_ARGUMENT', /y\[0, 0\] is "1"/)
    await expectRejects(() => m.fit([[1, 2, 3], [1, 2, 3]], [[1], []], { verbose: 0 }), 'INVALID_ARGUMENT', /y is ragged: y\[1\]/)
  })

  it('holes are never skipped: the values keep their places', async () => {
    // What a hole used to become: [[[1], [3], [0]]], the later values shifted left.
    // eslint-disable-next-line no-sparse-arrays
    const holed = [[[1], , [3]]] as unknown as TensorLike
    await expectRejects(() => floatModel().predict(holed), 'INVALID_ARGUMENT', /x\[0, 1\] is a hole/)
  })

  it('the position is named down to the element', async () => {
    const m = floatModel()
    await expectRejects(() => m.predict([[[0.5], [0.25], ['x' as unknown as number]], [[1], [2], [3]]]), 'INVALID_ARGUMENT', /x\[0, 2, 0\] is "x", not a number/)
    await expectRejects(() => m.predict([[[1], [2], [3]], [[1], [2]]]), 'INVALID_ARGUMENT', /x is ragged: x\[1\] has 2 elements, not 3/)
  })

  it('nested deeper than any input is refused before it is walked (3,000 levels)', async () => {
    let deep: unknown = [1]
    for (let i = 0; i < 3000; i++) deep = [deep]
    await expectRejects(() => floatModel().predict(deep as TensorLike), 'INVALID_ARGUMENT', /nested more than 8 arrays deep/)
    expectThrows(() => floatModel().predictSync(deep as TensorLike), 'INVALID_ARGUMENT', /nested more than 8/)
  })

  it('tensor() of a number[] with a hole or a non-number is refused, not NaN', () => {
    // eslint-disable-next-line no-sparse-arrays
    expectThrows(() => tensor([1, , 3] as number[]), 'INVALID_ARGUMENT', /data\[1\] is a hole/)
    expectThrows(() => tensor([1, '2', 3] as unknown as number[]), 'INVALID_ARGUMENT', /data\[1\] is "2"/)
  })

  it('well-formed nested arrays give what the same tensor gives', async () => {
    const m = floatModel()
    const nested = [[[0.5], [0.25], [-1]], [[2], [0], [1]]]
    const t = tensor(Float32Array.from(nested.flat(2)), [2, 3, 1])
    expect(Array.from((await m.predict(nested)).data)).toEqual(Array.from((await m.predict(t)).data))
  })
})
