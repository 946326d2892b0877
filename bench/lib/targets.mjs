// The "target" column: what each row is held against. Figures only, never pass/fail. Edit freely; rows not listed
// show "—". Each entry says where it comes from.
export const TARGETS = {
  'imdb-train': 'compute floor ≈ 11 s per epoch on this machine (anchors README)',
  'lag-fit': '< 50 ms (bound of the fit test in test/training.test.ts)',
  'lag-max': '< 50 ms (same bound, whole run)',
}
