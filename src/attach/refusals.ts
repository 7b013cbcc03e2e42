/** The reason an announcement was dropped, as one of a few labels (the reason itself carries sizes, paths). */
export function refusalLabel(reason: string): string {
  if (reason.startsWith('not an announcement topic')) return 'invalid topic';
  if (/over the \d+-byte limit/.test(reason)) return 'too large';
  if (reason === 'payload is not valid JSON') return 'not json';
  return 'invalid announcement';
}
