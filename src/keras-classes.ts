import type { LayerSpec } from './layers.js'

/** Each layer type's Keras class: `summary()` shows it, and `toKeras` writes it. */
export const KERAS_CLASS: Record<LayerSpec['type'], string> = {
  embedding: 'Embedding',
  lstm: 'LSTM',
  gru: 'GRU',
  simpleRnn: 'SimpleRNN',
  conv1d: 'Conv1D',
  maxPooling1d: 'MaxPooling1D',
  dense: 'Dense',
  dropout: 'Dropout',
  globalAveragePooling1d: 'GlobalAveragePooling1D',
  globalMaxPooling1d: 'GlobalMaxPooling1D',
}
