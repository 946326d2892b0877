/**
 * `engines.node` in package.json is the oldest Node the project claims. Every package the lockfile installs
 * (dev dependencies included) must accept the lowest version of each range it allows, or `npm ci` on that Node warns
 * EBADENGINE; and the platform packages in npm/ claim the same range.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import { describe, expect, it } from 'vitest'
import { ROOT } from './helpers.js'

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>
}

/** The lowest version of each `||` branch of the claimed range, e.g. 20.19.0 and 22.12.0. */
const lowestClaimed = pkg.engines.node.split('||').map((branch) => semver.minVersion(branch.trim())!.version)

describe('engines', () => {
  it('claims a range that includes the Node running the tests', () => {
    expect(semver.satisfies(process.versions.node, pkg.engines.node)).toBe(true)
    expect(lowestClaimed.length).toBeGreaterThan(0)
  })

  it.each(lowestClaimed)('every locked package accepts Node %s', (version) => {
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && !Array.isArray(entry.engines) && entry.engines?.node && !semver.satisfies(version, entry.engines.node))
      .map(([path, entry]) => `${path.replace(/^.*node_modules\//, '')}@${entry.version} wants node ${(entry.engines as { node: string }).node}`)
    expect(refusing).toEqual([])
  })

  it('the platform packages claim the same range', () => {
    for (const dir of readdirSync(join(ROOT, 'npm'))) {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'npm', dir, 'package.json'), 'utf8'))
      expect(manifest.engines, dir).toEqual(pkg.engines)
    }
  })
})
