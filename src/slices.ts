/**
 * Long synchronous work on the JavaScript thread cut into slices, so that timers and I/O run between them (the
 * event loop is the application's, not ours).
 */

/** How long a loop holds the event loop before it lets timers and I/O run. */
const SLICE_MS = 4

/**
 * Cuts long synchronous work into slices of about {@link SLICE_MS}: `if (slice.due()) await slice.yield()` in the
 * loop. By the clock rather than by a count of items, since the same count takes several times longer before the
 * JIT has compiled the loop, or on a busy machine.
 */
export class Slicer {
  private start = performance.now()

  /** Whether the current slice has run its time. */
  due(): boolean {
    return performance.now() - this.start >= SLICE_MS
  }

  /** Lets the event loop run (timers, I/O), then starts a new slice. */
  async yield(): Promise<void> {
    await new Promise((resolveTick) => setImmediate(resolveTick))
    this.start = performance.now()
  }
}

/** Items sorted at a time by the built-in sort; the runs are then merged. */
const SORT_RUN = 2048

/**
 * A sorted copy of `items` (stable), made in slices: the built-in sort of 90,000 words held the event loop for tens of
 * milliseconds. Runs of {@link SORT_RUN} are sorted one per slice at most, then merged pairwise, checking the clock
 * as they go.
 */
export async function sortedInSlices<T>(items: readonly T[], compare: (a: T, b: T) => number, slice: Slicer): Promise<T[]> {
  let from = [...items]
  for (let start = 0; start < from.length; start += SORT_RUN) {
    const run = from.slice(start, start + SORT_RUN).sort(compare)
    for (let i = 0; i < run.length; i++) from[start + i] = run[i]
    if (slice.due()) await slice.yield()
  }
  let to: T[] = new Array<T>(from.length)
  for (let width = SORT_RUN; width < from.length; width *= 2) {
    for (let left = 0; left < from.length; left += 2 * width) {
      const middle = Math.min(left + width, from.length)
      const end = Math.min(left + 2 * width, from.length)
      let i = left
      let j = middle
      for (let k = left; k < end; k++) {
        // Ties take the left run's item first: the merge is stable, as the built-in sort is.
        to[k] = j >= end || (i < middle && compare(from[i], from[j]) <= 0) ? from[i++] : from[j++]
        if ((k & 1023) === 0 && slice.due()) await slice.yield()
      }
    }
    ;[from, to] = [to, from]
  }
  return from
}
