// The IMDB arrays, prepared untimed: the peers' NPZ (prep_imdb.py, once per archive), lstm-native's tokenized cache,
// the check that both hold the same arrays, and the small archive of --quick.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { basename, join } from 'node:path'
import { compareArrays } from './arrays.mjs'
import { run } from './proc.mjs'

/**
 * --quick's archive: the first `perFolder` reviews (by file name) of each of train/test × pos/neg of the bundled
 * sample, so every framework trains a few batches. Made once in the cache folder.
 */
export function quickArchive(repo, cacheDir, perFolder = 100) {
  const out = join(cacheDir, `imdb-quick-${perFolder}.tar.gz`)
  if (existsSync(out)) return out
  const tmp = mkdtempSync(join(cacheDir, 'quick-'))
  try {
    const x = spawnSync('tar', ['-xzf', join(repo, 'data/imdb-sample.tar.gz'), '-C', tmp], { encoding: 'utf8' })
    if (x.status !== 0) throw new Error(`tar -x failed: ${x.stderr}`)
    for (const split of ['train', 'test']) {
      for (const label of ['pos', 'neg']) {
        const dir = join(tmp, 'aclImdb', split, label)
        for (const f of readdirSync(dir).sort().slice(perFolder)) unlinkSync(join(dir, f))
      }
    }
    const c = spawnSync('tar', ['-czf', `${out}.partial`, '-C', tmp, 'aclImdb'], { encoding: 'utf8' })
    if (c.status !== 0) throw new Error(`tar -c failed: ${c.stderr}`)
    renameSync(`${out}.partial`, out)
    return out
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** Fills ctx.npz (when a peer can run) and lstm-native's cache; returns the arrays check, or undefined. */
export async function prepareImdb(ctx) {
  const { opts, repo, cacheDir, lstmEnv } = ctx
  if (ctx.python && !(ctx.skip.torch && ctx.skip.keras)) {
    const st = statSync(opts.data)
    const npz = join(cacheDir, `${basename(opts.data).replace(/\.tar\.gz$|\.tgz$/, '')}-${st.size}-${Math.round(st.mtimeMs)}.npz`)
    if (!existsSync(npz)) {
      console.log(`  preparing ${basename(npz)} with prep_imdb.py (once)`)
      const partial = npz.replace(/\.npz$/, '.partial.npz')
      const r = await run(ctx.python, [join(opts.anchors, 'prep_imdb.py'), opts.data, partial], { cwd: cacheDir })
      if (r.code === 0) renameSync(partial, npz)
      else ctx.skip.torch = ctx.skip.keras = `prep_imdb.py failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`
    }
    if (existsSync(npz)) ctx.npz = npz
  }
  // lstm-native's tokenized cache, filled untimed: the counterpart of the peers' NPZ.
  const distIndex = join(repo, 'dist/index.js')
  const warm = `require(${JSON.stringify(distIndex)}).datasets.imdb.load({ path: ${JSON.stringify(opts.data)}, numWords: 1000, shuffle: false }).then(() => {})`
  const r = await run(process.execPath, ['-e', warm], { env: lstmEnv })
  if (r.code !== 0) console.log(`  warming lstm-native's IMDB cache failed: ${r.stderr.trim().split('\n').slice(-1)[0]}`)
  if (!ctx.npz) return undefined
  const check = compareArrays({ distIndex, data: opts.data, npz: ctx.npz, python: ctx.python, env: lstmEnv })
  console.log(`  same IMDB arrays for lstm-native and the peers (SHA-256 of padded reviews and labels): ${check.same === null ? `unknown (${check.error})` : check.same ? 'yes' : 'NO'}`)
  return check
}
