import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { DB_BUSY_BUDGET_MS, isDbBusy } from "./busy";

let t: TestDb;
let holder: ChildProcess | undefined;
beforeAll(async () => {
  t = await setupTestDb();
});
afterAll(async () => {
  if (holder?.pid && holder.exitCode === null) holder.kill("SIGKILL");
  await t?.close();
});

/** Another process takes SQLite's write lock (BEGIN IMMEDIATE) and keeps it for `ms`. */
async function holdWriteLock(file: string, ms: number): Promise<ChildProcess> {
  const code = `
    const Database = require("better-sqlite3");
    const db = new Database(process.argv[1]);
    db.prepare("BEGIN IMMEDIATE").run();
    process.stdout.write("locked\\n");
    setTimeout(() => { db.prepare("ROLLBACK").run(); db.close(); }, Number(process.argv[2]));
  `;
  const child = spawn(process.execPath, ["-e", code, file, String(ms)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
    child.on("exit", (c) => reject(new Error(`lock holder exited ${c}`)));
  });
  return child;
}

it.runIf(process.env.TEST_DATABASE_URL?.startsWith("postgres") !== true)(
  "check 37: a write lock held by another process: reads and the event loop stay responsive, a write fails busy within the budget",
  async () => {
    await t.db.rateLimit.create({
      data: { key: "seed", count: 1, windowStart: new Date(), expiresAt: new Date(Date.now() + 60_000) },
    });
    holder = await holdWriteLock(t.url.slice("file:".length), 6_000);

    // The event loop is never blocked for long while a write waits for the lock.
    let worstTick = 0;
    let last = Date.now();
    const ticker = setInterval(() => {
      const now = Date.now();
      worstTick = Math.max(worstTick, now - last);
      last = now;
    }, 10);

    const started = Date.now();
    const write = t.db.rateLimit
      .create({ data: { key: "blocked", count: 1, windowStart: new Date(), expiresAt: new Date() } })
      .then(
        () => null,
        (e: unknown) => e,
      );
    // Reads answer at once meanwhile (WAL).
    const readStarted = Date.now();
    expect(await t.db.rateLimit.count()).toBe(1);
    expect(Date.now() - readStarted).toBeLessThan(300);

    const error = await write;
    const took = Date.now() - started;
    clearInterval(ticker);
    expect(error).not.toBeNull();
    expect(isDbBusy(error)).toBe(true);
    expect(took).toBeGreaterThanOrEqual(DB_BUSY_BUDGET_MS - 300);
    expect(took).toBeLessThan(DB_BUSY_BUDGET_MS + 1_000);
    expect(worstTick).toBeLessThan(200);

    // Once the lock is gone, writes work again.
    holder.kill("SIGKILL");
    await new Promise((r) => holder?.once("exit", r));
    await t.db.rateLimit.create({
      data: { key: "after", count: 1, windowStart: new Date(), expiresAt: new Date() },
    });
    expect(await t.db.rateLimit.count()).toBe(2);
  },
);
