/**
 * Fixed-window counters kept in the database (RateLimit table), so limits survive restarts and hold
 * across several web instances.
 */
import type { Db } from "../db/client";

export type Rule = { limit: number; windowMs: number };

export const SIGNIN_RULES = {
  /** Password checks per account (its username and email are one account; also for names that do
   * not exist), counted before the check so parallel attempts cannot overrun it. */
  account: { limit: 5, windowMs: 15 * 60_000 },
  /** Failed sign-ins per client address. */
  address: { limit: 20, windowMs: 15 * 60_000 },
} satisfies Record<string, Rule>;

export const SIGNUP_RULES = {
  /** Account requests per client address. */
  address: { limit: 5, windowMs: 60 * 60_000 },
  /** Account requests in total (each one is a password hash: CPU). */
  total: { limit: 50, windowMs: 60 * 60_000 },
} satisfies Record<string, Rule>;

/** Console tickets per user (a console reconnecting takes one each time). */
export const TICKET_RULE: Rule = { limit: 30, windowMs: 60_000 };

export type Check = { limited: false } | { limited: true; retryAfterMs: number };

export async function checkRateLimit(db: Db, key: string, rule: Rule, now = new Date()): Promise<Check> {
  const row = await db.rateLimit.findUnique({ where: { key } });
  if (!row || row.expiresAt <= now || row.count < rule.limit) return { limited: false };
  return { limited: true, retryAfterMs: row.expiresAt.getTime() - now.getTime() };
}

/**
 * Counts one event and returns the count in the current window, including this one. Atomic: an
 * expired window is dropped, then one upsert creates the row or increments it, so parallel hits
 * each get their own number (the caller compares it with the limit: count before acting).
 */
export async function hitRateLimit(db: Db, key: string, rule: Rule, now = new Date()): Promise<number> {
  await db.rateLimit.deleteMany({ where: { key, expiresAt: { lte: now } } });
  const row = await db.rateLimit.upsert({
    where: { key },
    create: { key, count: 1, windowStart: now, expiresAt: new Date(now.getTime() + rule.windowMs) },
    update: { count: { increment: 1 } },
    select: { count: true, expiresAt: true },
  });
  return row.count;
}

/** Counts one event; refuses (without counting further use) once over the limit. */
export async function takeRateLimit(db: Db, key: string, rule: Rule, now = new Date()): Promise<Check> {
  const count = await hitRateLimit(db, key, rule, now);
  if (count <= rule.limit) return { limited: false };
  const row = await db.rateLimit.findUnique({ where: { key }, select: { expiresAt: true } });
  return { limited: true, retryAfterMs: Math.max(0, (row?.expiresAt ?? now).getTime() - now.getTime()) };
}

/** Gives back one counted event (it turned out not to count, e.g. a successful sign-in). */
export async function unhitRateLimit(db: Db, key: string): Promise<void> {
  await db.rateLimit.updateMany({ where: { key, count: { gt: 0 } }, data: { count: { decrement: 1 } } });
}

export async function clearRateLimit(db: Db, key: string): Promise<void> {
  await db.rateLimit.deleteMany({ where: { key } });
}

/** Drops expired buckets (the web process's housekeeping schedule, server/web/housekeeping.ts). */
export async function pruneRateLimits(db: Db, now = new Date()): Promise<void> {
  await db.rateLimit.deleteMany({ where: { expiresAt: { lte: now } } });
}

export function retryMinutes(ms: number): number {
  return Math.max(1, Math.ceil(ms / 60_000));
}
