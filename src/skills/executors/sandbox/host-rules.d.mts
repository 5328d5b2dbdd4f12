/** Types of host-rules.mjs (shared by the sandbox child and the parent's egress proxy). */
export interface HostPattern {
  wildcard: boolean;
  host: string;
  port: number | undefined;
}
export function normaliseHost(host: string): string;
export function parsePattern(pattern: string): HostPattern;
export function matchHost(
  patterns: HostPattern[],
  host: string,
  port: number | string | undefined,
): HostPattern | undefined;
export function isNonPublicAddress(address: string): boolean;
export function addressAllowed(
  patterns: HostPattern[],
  host: string,
  address: string,
  port: number | string | undefined,
): boolean;
export function isIP(input: string): number;
