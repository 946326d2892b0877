import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { LstmError } from '../errors.js'

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** Give up when no byte has arrived for this many milliseconds, so a dead connection never hangs. Default: 60,000. */
  stallTimeoutMs?: number
  /** Where the progress line goes; `null` for silence. Default: `process.stderr`. */
  progress?: Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean } | null
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (err as Error).message ?? String(err)
}

/**
 * Download `url` to `dest`. The body goes to a temporary file beside `dest` that is renamed at the end, so an
 * interrupted download never leaves a truncated `dest` that a later run would take for the real file.
 */
export async function downloadFile(url: string, dest: string, options: DownloadOptions = {}): Promise<void> {
  const { stallTimeoutMs = 60_000, progress = process.stderr } = options
  const controller = new AbortController()
  let stalled = false
  let stallTimer: NodeJS.Timeout | undefined
  const armStallTimer = () => {
    clearTimeout(stallTimer)
    stallTimer = setTimeout(() => {
      stalled = true
      controller.abort()
    }, stallTimeoutMs)
  }

  const partial = `${dest}.${process.pid}.part`
  const started = Date.now()
  let received = 0
  let file: Awaited<ReturnType<typeof open>> | undefined
  try {
    armStallTimer()
    const response = await fetch(url, { signal: controller.signal, redirect: 'follow' })
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {})
      throw new LstmError('IO', `download of ${url} failed: HTTP ${response.status} ${response.statusText}`.trimEnd())
    }
    const total = Number(response.headers.get('content-length')) || undefined

    // A TTY gets one line redrawn in place; a log file gets a line per 10% instead of hundreds of updates.
    let lastDraw = 0
    let lastTenth = -1
    let lastLine = ''
    const report = (done: boolean) => {
      if (!progress) return
      const percent = total ? ` (${Math.floor((100 * received) / total)}%)` : ''
      const line = `lstm-native: downloading ${url}: ${megabytes(received)}${total ? ` of ${megabytes(total)}` : ''}${percent}`
      if (progress.isTTY) {
        const now = Date.now()
        if (done || now - lastDraw > 200) {
          progress.write(`\r${line}${done ? '\n' : ''}`)
          lastDraw = now
        }
      } else {
        const tenth = total ? Math.floor((10 * received) / total) : 0
        if ((done || tenth > lastTenth) && line !== lastLine) {
          progress.write(`${line}\n`)
          lastTenth = tenth
          lastLine = line
        }
      }
    }

    await mkdir(dirname(dest), { recursive: true })
    file = await open(partial, 'w')
    report(false)
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      armStallTimer()
      await file.write(chunk)
      received += chunk.length
      report(false)
    }
    await file.close()
    file = undefined
    if (total !== undefined && received !== total) {
      throw new LstmError('IO', `download of ${url} failed: got ${received} bytes of the ${total} announced`)
    }
    await rename(partial, dest)
    report(true)
    progress?.write(`lstm-native: saved ${dest} (${megabytes(received)} in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
  } catch (err) {
    await file?.close().catch(() => {})
    await unlink(partial).catch(() => {})
    if (err instanceof LstmError) throw err
    const reason = stalled ? `no data for ${stallTimeoutMs / 1000} s` : describeFetchError(err)
    throw new LstmError('IO', `download of ${url} to ${dest} failed (${reason})`, { cause: err })
  } finally {
    clearTimeout(stallTimer)
  }
}
