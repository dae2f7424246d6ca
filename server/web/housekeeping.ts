/**
 * The web process's housekeeping: every few minutes, expired rate-limit counters, console tickets
 * and sign-out records are deleted, a bounded batch per table per run (so a large backlog never
 * holds SQLite's write lock for long; the next runs take the rest). With several web instances,
 * the one holding the `housekeeping` lease runs it.
 */
import type { Db } from "./db/client";
import { holdsLease } from "./instances";

export const HOUSEKEEPING_INTERVAL_MS = 5 * 60_000;
export const PRUNE_BATCH = 500;

export type Pruned = { rateLimits: number; tickets: number; revokedSessions: number; instances: number };

/** Heartbeat rows of processes gone this long are deleted (a CLI run that did not say goodbye). */
const GONE_INSTANCE_MS = 60 * 60_000;

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
  const { count: instances } = await db.webInstance.deleteMany({
    where: { heartbeatAt: { lt: new Date(now.getTime() - GONE_INSTANCE_MS) } },
  });
  return { rateLimits, tickets: ticketCount, revokedSessions: revokedCount, instances };
}

/** Starts the schedule (first run soon after start); returns a stop. Failures are logged, not fatal. */
export function startHousekeeping(getDb: () => Db, intervalMs = HOUSEKEEPING_INTERVAL_MS): () => void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      // Held a little shorter than the interval, so a stopped holder's turn passes to another.
      if (!(await holdsLease("housekeeping", Math.max(intervalMs - 1_000, intervalMs / 2)))) return;
      const pruned = await pruneExpired(getDb());
      const total = pruned.rateLimits + pruned.tickets + pruned.revokedSessions + pruned.instances;
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
