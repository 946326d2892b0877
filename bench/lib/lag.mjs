// Event-loop lag: a 5 ms setInterval that records the gap between its ticks, and the phases a program marks.
// Gaps count from the first tick: module loading before it is start-up, not a stall anything could have waited on.

export const INTERVAL_MS = 5

/** Starts the timer; `enter(name)` starts a phase; `stop()` ends the last phase and returns the figures. */
export function lagTimer({ unref = false } = {}) {
  // Each gap is [start, end] in ms; each phase too. A phase's max gap is the longest part of any gap inside it, so a
  // blocking stretch that spans phase boundaries is charged to each phase for the time it spent there.
  const gaps = []
  const marks = []
  let last
  const timer = setInterval(() => {
    const now = performance.now()
    if (last !== undefined) gaps.push([last, now])
    last = now
  }, INTERVAL_MS)
  if (unref) timer.unref()
  const t0 = performance.now()
  const enter = (name) => marks.push([name, performance.now()])
  const stop = () => {
    clearInterval(timer)
    enter('end')
    const phases = {}
    for (let i = 0; i + 1 < marks.length; i++) {
      const [name, from] = marks[i]
      const to = marks[i + 1][1]
      let maxGapMs = 0
      let ticks = 0
      for (const [a, b] of gaps) {
        if (b > from && b <= to) ticks++
        maxGapMs = Math.max(maxGapMs, Math.min(b, to) - Math.max(a, from))
      }
      phases[name] = { seconds: (to - from) / 1000, maxGapMs, ticks }
    }
    const lengths = gaps.map(([a, b]) => b - a)
    const sorted = [...lengths].sort((a, b) => a - b)
    const pct = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
    return {
      intervalMs: INTERVAL_MS,
      seconds: (performance.now() - t0) / 1000,
      ticks: gaps.length,
      maxGapMs: sorted.at(-1) ?? 0,
      p99GapMs: pct(0.99),
      medianGapMs: pct(0.5),
      gapsOver20Ms: lengths.filter((g) => g > 20).length,
      gapsOver50Ms: lengths.filter((g) => g > 50).length,
      phases,
    }
  }
  return { enter, stop }
}
