/**
 * Issue 17, class 11: the states `predictStep` carries belong to one batch size, as in Keras's stateful layers.
 * Another batch size is SHAPE_MISMATCH naming both, for every recurrent cell, and leaves the states as they were;
 * `resetStates()` forgets them, after which any batch size starts afresh.
 */
import { describe, expect, it } from 'vitest'
import { layers, Sequential, tensor } from '../src/index.js'
import { expectThrows } from './helpers.js'

function model(cell: 'lstm' | 'gru' | 'simpleRnn'): Sequential {
  return new Sequential([layers.embedding({ inputDim: 10, outputDim: 3 }), layers[cell]({ units: 4 }), layers.dense({ units: 2 })], { seed: 5, numThreads: 1 })
}

const ids = (...v: number[]) => tensor(Int32Array.from(v), [v.length, 1])

describe('predictStep with another batch size', () => {
  it.each(['lstm', 'gru', 'simpleRnn'] as const)('%s: refused until resetStates, the states kept', (cell) => {
    const m = model(cell)
    m.predictStep(ids(1, 2))
    for (const other of [ids(1), ids(1, 2, 3), ids(1, 2, 3, 4)]) {
      expectThrows(() => m.predictStep(other), 'SHAPE_MISMATCH', new RegExp(`resetStates.*expected 2, got ${other.shape[0]}`))
    }
    // The refused calls did not touch the states: the next step continues the sequence.
    const stepped = Array.from(m.predictStep(ids(3, 4)).data)
    const whole = Array.from(m.predictSync(tensor(Int32Array.from([1, 3, 2, 4]), [2, 2])).data)
    stepped.forEach((v, i) => expect(v).toBeCloseTo(whole[i], 5))
    m.resetStates()
    const fresh = Array.from(m.predictStep(ids(7)).data)
    const direct = Array.from(m.predictSync(ids(7)).data)
    expect(fresh).toEqual(direct)
  })
})
