/**
 * True when a skill id matches a skill pattern (`acme/search`, `acme/*`, `*`, `acme/search@^1`):
 * agents' skill lists and the worker plane's routes use it.
 */
export function skillPatternMatches(pattern: string, id: string): boolean {
  const bare = pattern.split('@')[0]!;
  if (bare === '*' || bare === '*/*') return true;
  if (bare.endsWith('/*')) return id.startsWith(bare.slice(0, -1));
  return bare === id;
}
