import { afterAll, beforeAll, expect, it } from "vitest";
import type { Db } from "../db/client";
import { setupTestDb, type TestDb } from "../testing/test-db";
import {
  checkRateLimit,
  clearRateLimit,
  hitRateLimit,
  pruneRateLimits,
  retryMinutes,
  takeRateLimit,
} from "./rate-limit";

let t: TestDb;
beforeAll(async () => {
  t = await setupTestDb();
});
afterAll(async () => t?.close());

it("counts within a window, limits at the threshold, resets after it", async () => {
  const rule = { limit: 3, windowMs: 60_000 };
  const t0 = new Date("2026-01-01T00:00:00Z");
  const at = (ms: number) => new Date(t0.getTime() + ms);
  expect(await checkRateLimit(t.db, "k", rule, t0)).toEqual({ limited: false });
  expect(await hitRateLimit(t.db, "k", rule, at(0))).toBe(1);
  expect(await hitRateLimit(t.db, "k", rule, at(1_000))).toBe(2);
  expect((await checkRateLimit(t.db, "k", rule, at(2_000))).limited).toBe(false);
  expect(await hitRateLimit(t.db, "k", rule, at(2_000))).toBe(3);
  expect(await checkRateLimit(t.db, "k", rule, at(30_000))).toEqual({ limited: true, retryAfterMs: 30_000 });
  // The window is over: a fresh one starts.
  expect((await checkRateLimit(t.db, "k", rule, at(60_000))).limited).toBe(false);
  expect(await hitRateLimit(t.db, "k", rule, at(61_000))).toBe(1);
  // Other keys are independent; clear and prune work.
  expect((await checkRateLimit(t.db, "other", rule, at(61_000))).limited).toBe(false);
  await clearRateLimit(t.db, "k");
  expect(await t.db.rateLimit.count()).toBe(0);
  await hitRateLimit(t.db, "old", rule, at(0));
  await pruneRateLimits(t.db, at(120_000));
  expect(await t.db.rateLimit.count()).toBe(0);
  expect(retryMinutes(1)).toBe(1);
  expect(retryMinutes(14 * 60_000 + 1)).toBe(15);
});

/**
 * The database, with the rate-limit table's calls watched: how many were in flight at once. A test
 * whose calls ran one after the other (awaited in a loop, or serialized anywhere below) sees 1.
 */
function watched(db: Db): { db: Db; maxInFlight: () => number } {
  let inFlight = 0;
  let max = 0;
  const table = new Proxy(db.rateLimit, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        inFlight++;
        max = Math.max(max, inFlight);
        try {
          return await value.apply(target, args);
        } finally {
          inFlight--;
        }
      };
    },
  });
  const proxy = new Proxy(db, {
    get: (target, prop, receiver) => (prop === "rateLimit" ? table : Reflect.get(target, prop, receiver)),
  });
  return { db: proxy, maxInFlight: () => max };
}

const N = 20;

it("concurrent hits each get their own number: none lost, none shared", async () => {
  const rule = { limit: 100, windowMs: 60_000 };
  const w = watched(t.db);
  const counts = await Promise.all(Array.from({ length: N }, () => hitRateLimit(w.db, "c", rule)));
  expect(w.maxInFlight()).toBeGreaterThan(1); // they really overlapped
  expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  expect((await t.db.rateLimit.findUniqueOrThrow({ where: { key: "c" } })).count).toBe(N);
});

it("concurrent takes let exactly the limit through", async () => {
  const rule = { limit: 5, windowMs: 60_000 };
  const w = watched(t.db);
  const checks = await Promise.all(Array.from({ length: N }, () => takeRateLimit(w.db, "take", rule)));
  expect(w.maxInFlight()).toBeGreaterThan(1);
  expect(checks.filter((c) => !c.limited)).toHaveLength(rule.limit);
  expect(checks.filter((c) => c.limited)).toHaveLength(N - rule.limit);
});

it("the same concurrency defeats a read-then-write counter (so the tests above can tell)", async () => {
  // What hitRateLimit must not be: read the count, then write count + 1. Run exactly like the
  // tests above, it loses updates; were the attempts serialized, it would not.
  const naiveHit = async (db: Db, key: string) => {
    const row = await db.rateLimit.findUnique({ where: { key }, select: { count: true } });
    const count = (row?.count ?? 0) + 1;
    const now = new Date();
    await db.rateLimit.upsert({
      where: { key },
      create: { key, count, windowStart: now, expiresAt: new Date(now.getTime() + 60_000) },
      update: { count },
    });
    return count;
  };
  const w = watched(t.db);
  const counts = await Promise.all(Array.from({ length: N }, () => naiveHit(w.db, "naive")));
  expect(w.maxInFlight()).toBeGreaterThan(1);
  expect(new Set(counts).size).toBeLessThan(N);
  expect((await t.db.rateLimit.findUniqueOrThrow({ where: { key: "naive" } })).count).toBeLessThan(N);
});
