/**
 * The web process's housekeeping: every few minutes, expired rate-limit counters, console tickets
 * and sign-out records are deleted, a bounded batch per table per run (so a large backlog never
 * holds SQLite's write lock for long; the next runs take the rest).
 */
import type { Db } from "./db/client";

export const HOUSEKEEPING_INTERVAL_MS = 5 * 60_000;
export const PRUNE_BATCH = 500;

export type Pruned = { rateLimits: number; tickets: number; revokedSessions: number };

/** One run. Unscoped by design: expired rows belong to no caller. */
export async function pruneExpired(db: Db, now = new Date(), batch = PRUNE_BATCH): Promise<Pruned> {
  const limits = await db.rateLimit.findMany({
    where: { expiresAt: { lte: now } },
    select: { key: true },
    take: batch,
  });
  const rateLimits = limits.length
    ? (
        await db.rateLimit.deleteMany({
          where: { key: { in: limits.map((r) => r.key) }, expiresAt: { lte: now } },
        })
      ).count
    : 0;
  const tickets = await db.consoleTicket.findMany({
    where: { expiresAt: { lte: now } },
    select: { id: true },
    take: batch,
  });
  const ticketCount = tickets.length
    ? (await db.consoleTicket.deleteMany({ where: { id: { in: tickets.map((r) => r.id) } } })).count
    : 0;
  const revoked = await db.revokedSession.findMany({
    where: { expiresAt: { lte: now } },
    select: { id: true },
    take: batch,
  });
  const revokedCount = revoked.length
    ? (await db.revokedSession.deleteMany({ where: { id: { in: revoked.map((r) => r.id) } } })).count
    : 0;
  return { rateLimits, tickets: ticketCount, revokedSessions: revokedCount };
}

/** Starts the schedule (first run soon after start); returns a stop. Failures are logged, not fatal. */
export function startHousekeeping(getDb: () => Db, intervalMs = HOUSEKEEPING_INTERVAL_MS): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      const pruned = await pruneExpired(getDb());
      const total = pruned.rateLimits + pruned.tickets + pruned.revokedSessions;
      if (total) console.info(`[web] housekeeping: pruned ${JSON.stringify(pruned)}`);
    } catch (e) {
      console.warn("[web] housekeeping failed (next run retries):", (e as Error).message);
    } finally {
      running = false;
    }
  };
  const first = setTimeout(run, 10_000);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
