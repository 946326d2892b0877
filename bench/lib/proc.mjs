// Running one process and measuring it: wall time (process.hrtime around spawn), peak resident memory
// (GNU `/usr/bin/time -v`'s "Maximum resident set size" when available, else VmHWM polled from /proc), output.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'

let gnuTime
/** Whether /usr/bin/time is GNU time with -v (checked once). */
export function hasGnuTime() {
  if (gnuTime === undefined) {
    gnuTime = existsSync('/usr/bin/time') && /Maximum resident set size/.test(spawnSync('/usr/bin/time', ['-v', 'true'], { encoding: 'utf8' }).stderr ?? '')
  }
  return gnuTime
}

/** Peak of VmHWM (kB) over a process and its descendants (read from /proc), for when GNU time is missing. */
function pollPeakKb(pid) {
  const status = (p) => { try { return readFileSync(`/proc/${p}/status`, 'utf8') } catch { return '' } }
  const hwm = (p) => Number(/VmHWM:\s+(\d+)/.exec(status(p))?.[1] ?? 0)
  const children = (p) => { try { return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) } catch { return [] } }
  let peak = 0
  const tick = () => {
    const stack = [pid]
    let sum = 0
    while (stack.length) { const p = stack.pop(); sum += hwm(p); stack.push(...children(p)) }
    peak = Math.max(peak, sum)
  }
  const timer = setInterval(tick, 50)
  return { stop: () => { tick(); clearInterval(timer); return peak } }
}

/**
 * Runs `cmd args` to completion. Returns { code, signal, seconds, peakRssMb, peakRssMethod, stdout, stderr }.
 * `onLine` sees each output line as it comes (stdout and stderr), for progress display.
 */
export function run(cmd, args, { cwd, env, onLine, timeoutMs } = {}) {
  const useTime = hasGnuTime()
  const [file, argv] = useTime ? ['/usr/bin/time', ['-v', cmd, ...args]] : [cmd, args]
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(file, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const poll = useTime ? undefined : pollPeakKb(child.pid)
    let stdout = ''
    let stderr = ''
    const lines = (chunk, sink) => {
      const s = chunk.toString()
      if (onLine) for (const l of s.split(/\r|\n/)) if (l.trim()) onLine(l)
      return sink + s
    }
    child.stdout.on('data', (c) => { stdout = lines(c, stdout) })
    child.stderr.on('data', (c) => { stderr = lines(c, stderr) })
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGTERM'), timeoutMs) : undefined
    child.on('error', (e) => { stderr += `\n${e.message}` })
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9
      clearTimeout(timer)
      let peakKb
      let peakRssMethod
      if (useTime) {
        peakKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1])
        peakRssMethod = '/usr/bin/time -v'
        // GNU time exits with the program's status; strip its report from what the program wrote.
        stderr = stderr.replace(/\n?\s*Command (being timed|exited|terminated)[\s\S]*$/, '')
      } else {
        peakKb = poll.stop()
        peakRssMethod = 'VmHWM polled every 50 ms'
      }
      resolve({ code, signal, seconds, peakRssMb: Number.isFinite(peakKb) && peakKb > 0 ? peakKb / 1024 : null, peakRssMethod, stdout, stderr })
    })
  })
}

/** Runs a command quickly and returns its trimmed stdout, or undefined if it fails. */
export function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts })
  return r.status === 0 ? r.stdout.trim() : undefined
}
