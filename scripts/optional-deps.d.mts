export function optionalDependencies(pkg: { version: string; napi: { binaryName: string; targets: string[] } }): Record<string, string>
