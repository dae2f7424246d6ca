/**
 * Fixed-window counters kept in the database (RateLimit table), so limits survive restarts and hold
 * across several web instances.
 */
import type { Db } from "../db/client";

export type Rule = { limit: number; windowMs: number };

export const SIGNIN_RULES = {
  /** Failed sign-ins per account name typed (also for names that do not exist). */
  account: { limit: 5, windowMs: 15 * 60_000 },
  /** Failed sign-ins per client address. */
  address: { limit: 20, windowMs: 15 * 60_000 },
} satisfies Record<string, Rule>;

export type Check = { limited: false } | { limited: true; retryAfterMs: number };

export async function checkRateLimit(db: Db, key: string, rule: Rule, now = new Date()): Promise<Check> {
  const row = await db.rateLimit.findUnique({ where: { key } });
  if (!row || row.expiresAt <= now || row.count < rule.limit) return { limited: false };
  return { limited: true, retryAfterMs: row.expiresAt.getTime() - now.getTime() };
}

/** Counts one event; returns the count in the current window. */
export async function hitRateLimit(db: Db, key: string, rule: Rule, now = new Date()): Promise<number> {
  const bumped = await db.rateLimit.updateMany({
    where: { key, expiresAt: { gt: now } },
    data: { count: { increment: 1 } },
  });
  if (bumped.count === 0) {
    const fresh = { count: 1, windowStart: now, expiresAt: new Date(now.getTime() + rule.windowMs) };
    await db.rateLimit.upsert({ where: { key }, create: { key, ...fresh }, update: fresh });
    return 1;
  }
  const row = await db.rateLimit.findUnique({ where: { key } });
  return row?.count ?? 1;
}

export async function clearRateLimit(db: Db, key: string): Promise<void> {
  await db.rateLimit.deleteMany({ where: { key } });
}

/** Drops expired buckets (called opportunistically). */
export async function pruneRateLimits(db: Db, now = new Date()): Promise<void> {
  await db.rateLimit.deleteMany({ where: { expiresAt: { lte: now } } });
}

export function retryMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}
