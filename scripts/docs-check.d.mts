export const ROOT: string
export function markdownFiles(root?: string): string[]
export function codeBlocks(markdown: string): { lang: string; text: string; line: number; end: number; example?: string }[]
export function checkExamples(root?: string, options?: { write?: boolean }): string[]
export function slug(heading: string): string
export function checkLinks(root?: string): string[]
export function checkChart(root?: string, options?: { write?: boolean }): Promise<string[]>
