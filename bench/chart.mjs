#!/usr/bin/env node
// Draws the speed chart from a results JSON: the one `npm run bench` writes (bench/results/latest.json, where run.mjs
// also writes latest.svg), or bench/readme-figures.json, which holds the figures quoted in the README.
//   node bench/chart.mjs [results.json] [out.svg]     (default: bench/results/latest.json → bench/results/latest.svg)
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { speedSvg } from './lib/report.mjs'

const benchDir = dirname(fileURLToPath(import.meta.url))
const [input = join(benchDir, 'results/latest.json'), output = join(benchDir, 'results/latest.svg')] = process.argv.slice(2)
const svg = speedSvg(JSON.parse(readFileSync(input, 'utf8')))
if (!svg) {
  console.error(`chart: ${input} has none of the charted workloads (imdb-train, infer, words-wall) with an lstm-native figure`)
  process.exit(1)
}
writeFileSync(output, svg)
console.log(`chart: ${output}`)
