/**
 * HDF5 files read and written by h5wasm (the HDF5 C library compiled to WebAssembly) in a worker thread of their own,
 * one per call. A corrupt file can make the C library abort (an allocation of a size read from the file, say), which
 * leaves a WebAssembly instance unusable for good; in a worker that costs only that worker. The instance's address
 * space is also given back when the worker ends, and the calling thread never instantiates WebAssembly at all.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

/** A group: its attributes (as h5wasm reads them) and its members by name. */
export interface H5Group {
  /** Attribute values: strings, arrays of strings, typed arrays, numbers. */
  attrs: Record<string, unknown>
  /** Groups and datasets by name. */
  children: Record<string, H5Node>
}

/** A dataset: its shape, h5wasm's dtype and its values. */
export interface H5Dataset {
  /** Dimensions (empty for a scalar). */
  shape: number[]
  /** h5wasm's description of the element type (`'<f'` for float32). */
  dtype?: unknown
  /** The values: a typed array for numbers. */
  value: unknown
}

/** A member of a group. */
export type H5Node = H5Group | H5Dataset

export function isGroup(node: H5Node | undefined): node is H5Group {
  return node !== undefined && 'children' in node
}

/** The member at `path` (`a/b/c`) below `group`, if there is one. */
export function memberAt(group: H5Group, path: string): H5Node | undefined {
  let node: H5Node | undefined = group
  for (const part of path.split('/').filter(Boolean)) {
    if (!isGroup(node) || !Object.hasOwn(node.children, part)) return undefined
    node = node.children[part]
  }
  return node
}

/** Runs in the worker (CommonJS, evaluated from this string): reads a whole file into a tree, or writes one. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
;(async () => {
  const h5 = (await import(workerData.url)).default
  const module = await h5.ready
  module.activate_throwing_error_handler()
  if (workerData.op === 'read') {
    const file = new h5.File(workerData.path, 'r')
    const attrsOf = (o) => Object.fromEntries(Object.entries(o.attrs).map(([k, a]) => [k, a.value]))
    const walk = (g) => {
      const node = { attrs: attrsOf(g), children: {} }
      for (const k of g.keys()) {
        const c = g.get(k)
        if (c && typeof c.keys === 'function') node.children[k] = walk(c)
        else if (c && Array.isArray(c.shape)) node.children[k] = { shape: c.shape, dtype: c.dtype, value: c.value }
      }
      return node
    }
    const tree = walk(file)
    file.close()
    parentPort.postMessage({ tree })
  } else {
    const file = new h5.File(workerData.path, 'w')
    const write = (g, node) => {
      for (const [k, c] of Object.entries(node.children)) {
        if (c.children) write(g.create_group(k), c)
        else g.create_dataset({ name: k, data: c.value, shape: c.shape, dtype: '<f' })
      }
    }
    write(file, workerData.tree)
    file.close()
    parentPort.postMessage({ done: true })
  }
})().catch((e) => parentPort.postMessage({ error: String((e && e.message) || e) }))
`

/** A failure inside HDF5: `message` is the most telling line of its error stack. */
export class Hdf5Error extends Error {}

/** The last line of HDF5's error stack that says what went wrong (`truncated file: eof = 3000, ...`). */
function hdf5Reason(text: string): string {
  const lines = text.split('\n').filter((l) => /^\s*#\d+:/.test(l))
  const last = lines.length ? lines[lines.length - 1].replace(/^\s*#\d+:.*?\(\):\s*/, '') : text.split('\n').find((l) => l.trim()) ?? text
  return last.trim().slice(0, 300)
}

/**
 * h5wasm's Node entry, found along the module search path of this file. The package exports it to `import` only,
 * and the worker imports it by file URL.
 */
function h5wasmUrl(): string {
  const from = typeof __filename === 'string' ? __filename : join(process.cwd(), 'index.js')
  for (const dir of createRequire(from).resolve.paths('h5wasm') ?? []) {
    const file = join(dir, 'h5wasm', 'dist', 'node', 'hdf5_hl.js')
    if (existsSync(file)) return pathToFileURL(file).href
  }
  throw new Hdf5Error('cannot find the h5wasm package, a dependency of lstm-native: reinstall lstm-native')
}

/** A stuck read of a crafted file must not hang the caller. */
const TIMEOUT_MS = 120_000

function run(data: { op: 'read' | 'write'; path: string; tree?: H5Group }): Promise<{ tree?: H5Group }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { ...data, url: h5wasmUrl() }, stdout: true, stderr: true })
    // What the WebAssembly module prints (an abort's reason) is kept for the error, not shown.
    let printed = ''
    worker.stderr.on('data', (chunk: Buffer) => {
      printed = (printed + chunk.toString()).slice(-4000)
    })
    worker.stdout.resume()
    const timer = setTimeout(() => {
      void worker.terminate()
      reject(new Hdf5Error(`HDF5 gave no answer within ${TIMEOUT_MS / 1000} s`))
    }, TIMEOUT_MS)
    const settle = () => {
      clearTimeout(timer)
      void worker.terminate()
    }
    worker.once('message', (m: { tree?: H5Group; error?: string }) => {
      settle()
      if (m.error !== undefined) reject(new Hdf5Error(hdf5Reason(m.error) + (/Aborted|Cannot enlarge memory/.test(printed) ? ` (${printed.trim().split('\n')[0].slice(0, 200)})` : '')))
      else resolve(m)
    })
    worker.once('error', (err) => {
      settle()
      reject(new Hdf5Error(err instanceof Error ? err.message : String(err)))
    })
    worker.once('exit', (code) => {
      settle()
      reject(new Hdf5Error(`the HDF5 worker stopped (exit code ${code})${printed ? `: ${printed.trim().split('\n')[0].slice(0, 200)}` : ''}`))
    })
  })
}

/** The whole file: every group, attribute and dataset. Throws `Hdf5Error` for anything HDF5 cannot read. */
export async function readHdf5(path: string): Promise<H5Group> {
  const { tree } = await run({ op: 'read', path })
  if (!tree) throw new Hdf5Error('the HDF5 worker returned nothing')
  return tree
}

/** Writes groups and float32 datasets (`value` a Float32Array) to a new file at `path`. */
export async function writeHdf5(path: string, tree: H5Group): Promise<void> {
  await run({ op: 'write', path, tree })
}
