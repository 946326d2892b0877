// The peers' Python: $ANCHORS_PY when set, else bench/.venv, created here and filled with pip
// (numpy torch tensorflow-cpu keras safetensors fastapi uvicorn). A package that cannot be installed or imported is reported and its
// peer skipped; nothing is made up for it.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './proc.mjs'

const CPU_TORCH_INDEX = 'https://download.pytorch.org/whl/cpu'
const PACKAGES = ['numpy', 'tensorflow-cpu', 'keras', 'safetensors', 'fastapi', 'uvicorn']

/** Imports each module in its own interpreter and returns { name: { ok, version?, error? } }. */
export function probeModules(python, modules = ['numpy', 'torch', 'tensorflow', 'keras', 'safetensors', 'fastapi', 'uvicorn']) {
  const out = {}
  for (const m of modules) {
    const r = spawnSync(python, ['-c', `import os; os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3"); import ${m}; print(getattr(${m}, "__version__", "?"))`], { encoding: 'utf8', timeout: 180_000 })
    out[m] = r.status === 0 ? { ok: true, version: r.stdout.trim().split('\n').pop() } : { ok: false, error: (r.stderr || r.error?.message || 'failed').trim().split('\n').slice(-1)[0] }
  }
  return out
}

function dirBytes(dir) {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' })
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : null
}

async function pip(python, args, log) {
  log(`  pip install ${args.join(' ')}`)
  const r = await run(python, ['-m', 'pip', 'install', '--no-input', ...args], { env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' } })
  if (r.code !== 0) log(`  pip failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`)
  return r.code === 0
}

/**
 * Returns { python, source, modules, setup } or { python: null, reason } when no interpreter is usable.
 * `setup` records what was done here this run: { created, seconds, bytes, torchIndex, failed }; `record` is what
 * bench/.venv/bench-setup.json kept from the run that created or last filled the venv.
 */
export async function peerPython({ benchDir, install = true, log = console.log }) {
  if (process.env.ANCHORS_PY) {
    const python = process.env.ANCHORS_PY
    return { python, source: '$ANCHORS_PY', modules: probeModules(python), setup: null }
  }
  const venv = join(benchDir, '.venv')
  const python = join(venv, 'bin', 'python')
  const setup = { created: false, seconds: 0, bytes: null, torchIndex: null, failed: [] }
  const t0 = process.hrtime.bigint()
  if (!existsSync(python)) {
    if (!install) return { python: null, reason: `${venv} does not exist (run without --no-install to create it)` }
    const base = process.env.BENCH_PYTHON || 'python3'
    log(`creating ${venv} with ${base} (one-time: downloads about 1-3 GB of wheels)`)
    const r = spawnSync(base, ['-m', 'venv', venv], { encoding: 'utf8' })
    if (r.status !== 0) return { python: null, reason: `${base} -m venv failed: ${(r.stderr || r.error?.message || '').trim()}` }
    setup.created = true
    await pip(python, ['--upgrade', 'pip'], log)
  }
  let modules = probeModules(python)
  if (install && !modules.torch.ok) {
    // CPU-only wheels first (much smaller); fall back to the default PyPI wheel when that index is unreachable.
    if (await pip(python, ['--index-url', CPU_TORCH_INDEX, '--timeout', '20', '--retries', '1', 'torch'], log)) setup.torchIndex = CPU_TORCH_INDEX
    else if (await pip(python, ['torch'], log)) setup.torchIndex = 'PyPI default'
    else setup.failed.push('torch')
  }
  const missing = { numpy: 'numpy', tensorflow: 'tensorflow-cpu', keras: 'keras', safetensors: 'safetensors', fastapi: 'fastapi', uvicorn: 'uvicorn' }
  const want = PACKAGES.filter((p) => Object.entries(missing).some(([m, pkg]) => pkg === p && !modules[m].ok))
  if (install && want.length && !(await pip(python, want, log))) {
    // One package failing should not block the others.
    for (const p of want) if (!(await pip(python, [p], log))) setup.failed.push(p)
  }
  if (setup.created || setup.torchIndex || want.length) {
    modules = probeModules(python)
    setup.seconds = Number(process.hrtime.bigint() - t0) / 1e9
    setup.bytes = dirBytes(venv)
    writeFileSync(join(venv, 'bench-setup.json'), JSON.stringify({ date: new Date().toISOString(), ...setup, modules }, null, 2))
    log(`venv ready in ${setup.seconds.toFixed(0)} s, ${(setup.bytes / 2 ** 30).toFixed(2)} GiB`)
  }
  let record
  try { record = JSON.parse(readFileSync(join(venv, 'bench-setup.json'), 'utf8')) } catch {}
  return { python, source: 'bench/.venv', modules, setup, record }
}

// `node bench/lib/python.mjs` sets up (or checks) the venv alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { dirname } = await import('node:path')
  const { fileURLToPath } = await import('node:url')
  const r = await peerPython({ benchDir: dirname(dirname(fileURLToPath(import.meta.url))) })
  console.log(JSON.stringify(r, null, 2))
}
