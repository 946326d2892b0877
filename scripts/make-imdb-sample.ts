/**
 * Build data/imdb-sample.tar.gz, the small IMDB sample that `datasets.imdb.load({ sample: true })` reads:
 * 500 reviews from each of aclImdb/{train,test}/{pos,neg} of the official archive, in the same layout.
 *
 *   npx tsx scripts/make-imdb-sample.ts [path/to/aclImdb_v1.tar.gz] [out.tar.gz]
 *
 * The choice is deterministic (every 25th file in file-name order, the reference's order), so running it again
 * gives the same reviews; the archive itself is byte-identical too (fixed mtime, no owner names).
 */
import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { create } from 'tar'
import { readArchiveReviews, type ReviewFile } from '../src/datasets/imdb.js'

const PER_FOLDER = 500
const FIXED_MTIME = new Date('2011-06-01T00:00:00Z') // the official archive's date

async function main(): Promise<void> {
  const source = resolve(process.argv[2] ?? '/work/shared/data/aclImdb_v1.tar.gz')
  const out = resolve(process.argv[3] ?? join(__dirname, '..', 'data', 'imdb-sample.tar.gz'))

  const byFolder = new Map<string, ReviewFile[]>()
  await readArchiveReviews(source, (review) => {
    const folder = `${review.split}/${review.labelFolder}`
    if (!byFolder.has(folder)) byFolder.set(folder, [])
    byFolder.get(folder)!.push(review)
  })

  // tar.c packs files from disk: lay the chosen reviews out in a scratch folder first.
  const scratch = mkdtempSync(join(tmpdir(), 'imdb-sample-'))
  try {
    const files: string[] = []
    for (const folder of ['train/neg', 'train/pos', 'test/neg', 'test/pos']) {
      const reviews = (byFolder.get(folder) ?? []).sort((a, b) => (a.fileName < b.fileName ? -1 : 1))
      const stride = Math.floor(reviews.length / PER_FOLDER)
      if (stride < 1) throw new Error(`${source} has only ${reviews.length} reviews in aclImdb/${folder}`)
      mkdirSync(join(scratch, 'aclImdb', folder), { recursive: true })
      for (let i = 0; i < PER_FOLDER; i++) {
        const review = reviews[i * stride]
        const file = join('aclImdb', folder, review.fileName)
        writeFileSync(join(scratch, file), review.bytes)
        files.push(file)
      }
    }
    await create({ file: out, cwd: scratch, gzip: { level: 9 }, portable: true, mtime: FIXED_MTIME, noDirRecurse: true }, files)
  } finally {
    rmSync(scratch, { recursive: true, force: true })
  }
  console.log(`${out}: ${4 * PER_FOLDER} reviews, ${(statSync(out).size / 1e6).toFixed(2)} MB`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
