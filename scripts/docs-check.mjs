#!/usr/bin/env node
// Keeps the documentation honest:
// - every TypeScript block (```ts) in README.md and docs/*.md is an example file, marked by the line
//   `<!-- example: examples/NAME.mts -->` just above it (a path from the repository's root), and its text is that file's text exactly (the examples are
//   type-checked and run from a fresh project by scripts/install-test.sh); every examples/*.mts is shown somewhere;
// - every relative link (and image) in those files points to a file or folder that exists, and a `#fragment` to a
//   heading of its target;
// - docs/speed.svg is what bench/chart.mjs draws from bench/readme-figures.json (the README's figures).
//   node scripts/docs-check.mjs           check, exit 1 on any problem
//   node scripts/docs-check.mjs --write   copy each example file into its marked block first
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** The Markdown files checked: README.md, bench/README.md and docs/*.md. */
export function markdownFiles(root = ROOT) {
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f)) : []
  return ['README.md', 'bench/README.md', ...docs.sort()].filter((f) => existsSync(join(root, f)))
}

const FENCE = /^```(\S*)\s*$/

/** The fenced code blocks of a Markdown text: language, text, the line of the opening fence, and the marker above. */
export function codeBlocks(markdown) {
  const lines = markdown.split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i])
    if (!open) continue
    let j = i + 1
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++
    const marker = i > 0 ? /^<!-- example: (\S+) -->$/.exec(lines[i - 1].trim()) : null
    blocks.push({ lang: open[1], text: lines.slice(i + 1, j).join('\n') + '\n', line: i + 1, end: j + 1, example: marker ? marker[1] : undefined })
    i = j
  }
  return blocks
}

const TS = new Set(['ts', 'typescript', 'mts', 'tsx'])

/** Problems with the TypeScript blocks of the given files; with `write`, first copies each marked example into its block. */
export function checkExamples(root = ROOT, { write = false } = {}) {
  const problems = []
  const shown = new Set()
  for (const file of markdownFiles(root)) {
    const path = join(root, file)
    let text = readFileSync(path, 'utf8')
    if (write) {
      const lines = text.split('\n')
      for (const b of codeBlocks(text).reverse()) {
        if (!TS.has(b.lang) || !b.example || !existsSync(join(root, b.example))) continue
        const body = readFileSync(join(root, b.example), 'utf8').replace(/\n$/, '').split('\n')
        lines.splice(b.line, b.end - b.line - 1, ...body)
      }
      const updated = lines.join('\n')
      if (updated !== text) writeFileSync(path, updated)
      text = updated
    }
    for (const b of codeBlocks(text)) {
      if (!TS.has(b.lang)) continue
      const where = `${file}:${b.line}`
      if (!b.example) {
        problems.push(`${where}: a TypeScript block without an \`<!-- example: examples/NAME.mts -->\` line above it`)
        continue
      }
      const example = resolve(root, b.example)
      const rel = relative(root, example)
      if (!/^examples\/[^/]+\.mts$/.test(rel) || !existsSync(example)) {
        problems.push(`${where}: ${b.example} is not a file examples/NAME.mts`)
        continue
      }
      shown.add(rel)
      if (readFileSync(example, 'utf8') !== b.text) problems.push(`${where}: the block differs from ${rel} (run \`node scripts/docs-check.mjs --write\`)`)
    }
  }
  const examples = existsSync(join(root, 'examples')) ? readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.mts')) : []
  for (const f of examples) if (!shown.has(`examples/${f}`)) problems.push(`examples/${f} is shown in no README or docs page`)
  return problems
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

function anchors(markdown) {
  const out = new Set()
  const seen = new Map()
  let inFence = false
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) inFence = !inFence
    const h = !inFence && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!h) continue
    const base = slug(h[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1'))
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Problems with the relative links and images of the given files (external links are not fetched). */
export function checkLinks(root = ROOT) {
  const problems = []
  for (const file of markdownFiles(root)) {
    const path = join(root, file)
    const text = readFileSync(path, 'utf8')
    // Links outside code: drop fenced blocks and inline code first.
    const prose = text.replace(/^```[\s\S]*?^```\s*$/gm, (m) => m.replace(/[^\n]/g, ' ')).replace(/`[^`\n]*`/g, (m) => ' '.repeat(m.length))
    const targets = []
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push({ target: m[1], at: m.index })
    for (const m of prose.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)) targets.push({ target: m[1], at: m.index })
    for (const m of prose.matchAll(/<(?:img|a)\s[^>]*(?:src|href)="([^"]+)"/g)) targets.push({ target: m[1], at: m.index })
    for (const { target, at } of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // http:, https:, mailto:
      const line = text.slice(0, at).split('\n').length
      const [p, fragment] = target.split('#')
      const dest = p === '' ? path : resolve(dirname(path), decodeURIComponent(p))
      if (!existsSync(dest)) {
        problems.push(`${file}:${line}: ${target}: no such file`)
        continue
      }
      if (fragment !== undefined && statSync(dest).isFile() && dest.endsWith('.md') && !anchors(readFileSync(dest, 'utf8')).has(fragment)) {
        problems.push(`${file}:${line}: ${target}: no heading #${fragment} in ${relative(root, dest)}`)
      }
    }
  }
  return problems
}

/** Problems with the committed chart: docs/speed.svg must be speedSvg(bench/readme-figures.json); with `write`, redraws it. */
export async function checkChart(root = ROOT, { write = false } = {}) {
  const { speedSvg } = await import(join(root, 'bench', 'lib', 'report.mjs'))
  const svg = speedSvg(JSON.parse(readFileSync(join(root, 'bench', 'readme-figures.json'), 'utf8')))
  const path = join(root, 'docs', 'speed.svg')
  if (write) writeFileSync(path, svg)
  return existsSync(path) && readFileSync(path, 'utf8') === svg ? [] : ['docs/speed.svg is not what `node bench/chart.mjs bench/readme-figures.json docs/speed.svg` draws']
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const write = process.argv.includes('--write')
  const problems = [...checkExamples(ROOT, { write }), ...checkLinks(ROOT), ...(await checkChart(ROOT, { write }))]
  for (const p of problems) console.error(p)
  const files = markdownFiles(ROOT)
  console.log(`docs-check: ${files.length} Markdown files (${files.join(', ')}): ${problems.length ? `${problems.length} problem(s)` : 'examples, relative links and chart OK'}`)
  process.exit(problems.length ? 1 : 0)
}
