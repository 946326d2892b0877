// What the figures were measured on: CPU, cores, memory, and the versions of everything involved.
import { cpus, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import { capture } from './proc.mjs'

export function machine() {
  const lscpu = capture('lscpu', []) ?? ''
  const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim()
  let os
  try { os = /PRETTY_NAME="?([^"\n]+)/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] } catch {}
  return {
    cpuModel: field('Model name') ?? cpus()[0]?.model,
    cores: Number(field('CPU\\(s\\)') ?? cpus().length),
    threadsPerCore: Number(field('Thread\\(s\\) per core')) || undefined,
    hypervisor: field('Hypervisor vendor'),
    avx512: /\bavx512f\b/.test(field('Flags') ?? ''),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os,
    kernel: capture('uname', ['-r']),
    loadAverageAtStart: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  }
}

export function versions(repo, python, modules) {
  const pkg = JSON.parse(readFileSync(`${repo}/package.json`, 'utf8'))
  const commit = capture('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'])
  const dirty = capture('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'])
  const v = { lstmNative: pkg.version, commit: commit && `${commit}${dirty ? ' (with uncommitted changes)' : ''}`, node: process.version }
  if (python) {
    const py = capture(python, ['--version'])
    v.python = py?.replace(/^Python /, '')
    for (const [m, r] of Object.entries(modules ?? {})) v[m] = r.ok ? r.version : `not importable: ${r.error}`
  }
  return v
}
