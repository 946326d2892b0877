import { defineConfig } from 'tsup'

// Two entry points: the library (ESM + CommonJS, with types) and the CLI (CommonJS, run by `bin`).
export default defineConfig([
  {
    entry: { index: 'src/index.ts' },
    format: ['cjs', 'esm'],
    dts: true,
    clean: true,
    target: 'node20',
    shims: true,
    outExtension: ({ format }) => ({ js: format === 'esm' ? '.mjs' : '.js' }),
  },
  {
    entry: { cli: 'src/bin.ts' },
    format: ['cjs'],
    target: 'node20',
    shims: true,
    banner: { js: '#!/usr/bin/env node' },
  },
])
