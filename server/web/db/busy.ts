/**
 * SQLite's write lock, held by another process (the CLI, a backup, a second instance), must not
 * freeze the panel: better-sqlite3 waits for it synchronously, blocking the whole event loop. So the
 * driver waits only a moment (SQLITE_BUSY_TIMEOUT_MS) and the client retries asynchronously, with the
 * event loop free in between, until DB_BUSY_BUDGET_MS have passed; then the operation fails and the
 * wrappers answer 503 with Retry-After (route handlers) or "the database is busy" (server actions).
 */
export const SQLITE_BUSY_TIMEOUT_MS = 25;
export const DB_BUSY_BUDGET_MS = 2_000;
/** Seconds a client is told to wait before retrying (Retry-After). */
export const DB_BUSY_RETRY_AFTER_S = 2;

/** True when `test` holds for the error or anything it wraps (Prisma's meta, Auth.js's cause.err). */
function anyCause(error: unknown, test: (o: Record<string, unknown>) => boolean): boolean {
  const seen = new Set<unknown>();
  let e: unknown = error;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    const o = e as Record<string, unknown> & { meta?: { driverAdapterError?: unknown } };
    if (test(o)) return true;
    e = o.meta?.driverAdapterError ?? o.err ?? o.cause;
  }
  return false;
}

/** True for "the database is locked/busy" however Prisma or the driver wraps it. */
export function isDbBusy(error: unknown): boolean {
  return anyCause(
    error,
    (o) =>
      o.code === "P1008" ||
      o.kind === "SocketTimeout" ||
      (typeof o.code === "string" && o.code.startsWith("SQLITE_BUSY")) ||
      (typeof o.message === "string" && /SQLITE_BUSY|database is locked/.test(o.message)),
  );
}

/**
 * True for "the disk holding the database is full": SQLITE_FULL, or in WAL mode SQLITE_IOERR_SHMSIZE
 * (the shared-memory file cannot grow; measured in crash-safety.itest.ts). Reads on an open
 * connection go on; the wrappers answer a write 503 with a clear message instead of a 500.
 */
export function isDbFull(error: unknown): boolean {
  const full = /SQLITE_FULL|SQLITE_IOERR_SHMSIZE|database or disk is full/;
  return anyCause(
    error,
    (o) =>
      (typeof o.code === "string" && full.test(o.code)) ||
      (typeof o.message === "string" && full.test(o.message)),
  );
}

/** Runs `fn`, retrying while the database is busy (asynchronously, with growing pauses). */
export async function retryWhileBusy<T>(
  fn: () => Promise<T>,
  budgetMs = DB_BUSY_BUDGET_MS,
  sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
    try {
      return await fn();
    } catch (e) {
      if (!isDbBusy(e) || Date.now() + pause > deadline) throw e;
      await sleep(pause);
    }
  }
}
