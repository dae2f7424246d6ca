import { afterAll, beforeAll, expect, it } from "vitest";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { checkRateLimit, clearRateLimit, hitRateLimit, pruneRateLimits, retryMinutes } from "./rate-limit";

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

it("concurrent hits are all counted", async () => {
  const rule = { limit: 100, windowMs: 60_000 };
  await hitRateLimit(t.db, "c", rule);
  await Promise.all(Array.from({ length: 10 }, () => hitRateLimit(t.db, "c", rule)));
  const row = await t.db.rateLimit.findUniqueOrThrow({ where: { key: "c" } });
  expect(row.count).toBe(11);
});
