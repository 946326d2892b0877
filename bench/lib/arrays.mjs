// Checks that lstm-native and the peers train on the same arrays: SHA-256 of the padded int32 reviews and float32
// labels as lstm-native's loader + padSequences make them, and as prep_imdb.py's NPZ holds them.
import { capture } from './proc.mjs'

const NODE = `
const { datasets, padSequences } = require(process.argv[1]); const { createHash } = require('node:crypto')
const h = (a) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex').slice(0, 16)
const src = process.argv[2] ? { path: process.argv[2], numWords: 1000, shuffle: false } : { sample: true, numWords: 1000, shuffle: false }
datasets.imdb.load(src).then((d) => console.log(JSON.stringify({
  x_train: h(padSequences(d.xTrain, { maxlen: 200 }).data), x_test: h(padSequences(d.xTest, { maxlen: 200 }).data), y_train: h(d.yTrain), y_test: h(d.yTest) })))`

const PY = `
import hashlib, json, sys, numpy as np
d = np.load(sys.argv[1]); h = lambda a: hashlib.sha256(a.tobytes()).hexdigest()[:16]
print(json.dumps({k: h(d[k].astype(np.int32 if k.startswith("x") else np.float32)) for k in ["x_train", "x_test", "y_train", "y_test"]}))`

/** { same, lstmNative, npz } or { same: null, error }. `data` undefined = the bundled sample. */
export function compareArrays({ distIndex, data, npz, python, env }) {
  const ours = capture(process.execPath, ['-e', NODE, distIndex, data ?? ''], { env: { ...process.env, ...env } })
  const theirs = capture(python, ['-c', PY, npz])
  if (!ours || !theirs) return { same: null, error: `could not hash the ${ours ? 'NPZ' : "lstm-native loader's"} arrays` }
  const a = JSON.parse(ours)
  const b = JSON.parse(theirs)
  return { same: Object.keys(b).every((k) => a[k] === b[k]), lstmNative: a, npz: b }
}
