/**
 * The documentation cannot drift from the code it shows: every TypeScript block in README.md and docs/*.md is an
 * examples/*.mts file verbatim (scripts/install-test.sh type-checks and runs those files from a fresh project), every
 * relative link resolves, and docs/speed.svg is what bench/chart.mjs draws from the README's figures. The same checks
 * run on a scratch copy with a drifted block, a broken link and a stale chart, to prove they can fail.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkChart, checkExamples, checkLinks, codeBlocks, markdownFiles, slug } from '../scripts/docs-check.mjs'
import { ROOT, scratchDir } from './helpers.js'

const { dir: scratch, cleanup } = scratchDir('docs')
afterAll(cleanup)

describe('documentation', () => {
  it('checks README.md, bench/README.md and the guides in docs/', () => {
    const files = markdownFiles(ROOT)
    expect(files).toContain('README.md')
    expect(files).toContain('bench/README.md')
    for (const guide of ['docs/text-classification.md', 'docs/next-word-generation.md', 'docs/time-series.md', 'docs/performance.md', 'docs/api.md']) expect(files).toContain(guide)
  })

  it('every TypeScript block is its example file, verbatim, and every example is shown', () => {
    expect(checkExamples(ROOT)).toEqual([])
    const readme = codeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8')).filter((b) => b.lang === 'ts')
    expect(readme.map((b) => b.example)).toEqual(['examples/words.mts', 'examples/imdb.mts'])
    // The README's IMDB example reads the archive from the working folder, holds out a validation split, and
    // keeps the default progress output (no `verbose: 0`).
    const imdb = readFileSync(join(ROOT, 'examples', 'imdb.mts'), 'utf8')
    expect(imdb).toContain("path: 'aclImdb_v1.tar.gz'")
    expect(imdb).toContain('validationSplit')
    expect(imdb).not.toMatch(/verbose:\s*0/)
  })

  it('every relative link and image resolves, fragments included', () => {
    expect(checkLinks(ROOT)).toEqual([])
  })

  it('docs/speed.svg is drawn from bench/readme-figures.json by the bench code', async () => {
    expect(await checkChart(ROOT)).toEqual([])
  })

  it('finds a drifted block, an unmarked block, an orphan example, broken links and a stale chart', async () => {
    const root = join(scratch, 'repo')
    mkdirSync(join(root, 'docs'), { recursive: true })
    mkdirSync(join(root, 'examples'), { recursive: true })
    cpSync(join(ROOT, 'bench', 'lib'), join(root, 'bench', 'lib'), { recursive: true })
    cpSync(join(ROOT, 'bench', 'readme-figures.json'), join(root, 'bench', 'readme-figures.json'))
    writeFileSync(join(root, 'examples', 'a.mts'), "console.log('a')\n")
    writeFileSync(join(root, 'examples', 'orphan.mts'), "console.log('orphan')\n")
    writeFileSync(join(root, 'docs', 'speed.svg'), '<svg/>')
    writeFileSync(
      join(root, 'README.md'),
      [
        '# Title',
        '',
        '<!-- example: examples/a.mts -->',
        '```ts',
        "console.log('b')",
        '```',
        '',
        '```ts',
        'const unmarked = 1',
        '```',
        '',
        '[ok](docs/guide.md#a-heading) [missing](docs/nope.md) [bad fragment](docs/guide.md#nope) [web](https://example.com)',
        '',
      ].join('\n'),
    )
    writeFileSync(join(root, 'docs', 'guide.md'), '# A heading\n\n[back](../README.md#title)\n')
    const examples = checkExamples(root)
    expect(examples.some((p) => p.startsWith('README.md:4') && p.includes('differs from examples/a.mts'))).toBe(true)
    expect(examples.some((p) => p.startsWith('README.md:8') && p.includes('without'))).toBe(true)
    expect(examples).toContain('examples/orphan.mts is shown in no README or docs page')
    const links = checkLinks(root)
    expect(links).toEqual(['README.md:12: docs/nope.md: no such file', 'README.md:12: docs/guide.md#nope: no heading #nope in docs/guide.md'])
    expect(await checkChart(root)).toHaveLength(1)
    // --write copies the example into its block, after which only the unmarked block and the orphan remain.
    checkExamples(root, { write: true })
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain("```ts\nconsole.log('a')\n```")
    expect(checkExamples(root).length).toBe(2)
  })

  it("makes GitHub's heading anchors", () => {
    expect(slug('Text classification: IMDB sentiment')).toBe('text-classification-imdb-sentiment')
    expect(slug('`new Sequential(layers, { seed = 0 })`')).toBe('new-sequentiallayers--seed--0-')
    expect(slug('Errors')).toBe('errors')
  })
})
