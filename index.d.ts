// The public types of lstm-native, generated from src/ by `npm run build` (tsup).
export * from './dist/index.js'
