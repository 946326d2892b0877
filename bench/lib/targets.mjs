// The "target" column: what each row is held against (the performance issue's table; gru and cnn: the recurrent
// family's issue). Figures only, never pass/fail. Rows not listed show "—".
export const TARGETS = {
  'imdb-train': '≤ 0.25 × PyTorch (required ≤ 0.35); floor ≈ 11 s at 160 GFLOP/s',
  'imdb-speedup': '≥ 1.7',
  'imdb-rss': '≤ PyTorch',
  'gru-train': '≤ 0.25 × PyTorch',
  'cnn-train': '≤ 0.25 × PyTorch',
  infer: '≥ 2.5 × PyTorch reviews/s',
  'words-wall': '≤ 0.2 × TensorFlow (required ≤ 0.3)',
  'words-loop': '≤ 0.2 × TensorFlow',
  generate: '≤ 0.3 × PyTorch',
  'lag-fit': '< 20 ms (test bound: 50 ms)',
  'lag-max': '< 20 ms',
}
