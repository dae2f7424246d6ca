/**
 * Same-origin rule for every mutation (server actions and route handlers alike): the Origin header
 * must be one of ZAPHOD_ORIGINS. A missing Origin and `Origin: null` are refused (GHSA-mq59-m269-xvcx).
 */
export function isAllowedOrigin(origin: string | null | undefined, allowed: readonly string[]): boolean {
  if (!origin || origin === "null") return false;
  return allowed.includes(origin);
}

export const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
