/**
 * PrismaTicketStore on a real migrated database (SQLite by default, PostgreSQL with
 * TEST_DATABASE_URL): single use under concurrent consumes, expiry, refusal reasons, pruning.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../db/ids";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { PrismaTicketStore } from "./prisma-ticket-store";
import { createTicketService } from "./tickets";

let t: TestDb;
const userId = newId();
const vmId = newId();

beforeAll(async () => {
  t = await setupTestDb();
  await t.db.user.create({
    data: {
      id: userId,
      username: "tick",
      email: "tick@example.org",
      name: "Tick",
      passwordHash: "x",
      status: "active",
    },
  });
  await t.db.vm.create({
    data: {
      id: vmId,
      name: "tick",
      ownerId: userId,
      image: "demo",
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 64,
    },
  });
});
afterAll(() => t?.close());

describe(`PrismaTicketStore`, () => {
  it("stores only the hash and is single use, also under concurrent consumes", async () => {
    const store = new PrismaTicketStore(t.db, newId);
    const tickets = createTicketService({ store });
    for (let i = 0; i < 10; i++) {
      const { token } = await tickets.issueTicket({ userId, vmId });
      const row = await t.db.consoleTicket.findFirst({ orderBy: { createdAt: "desc" } });
      expect(row?.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(row?.tokenHash).not.toContain(token);
      const results = await Promise.all([1, 2, 3].map(() => tickets.consumeTicket(token)));
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, userId, vmId }]);
      expect(results.filter((r) => !r.ok)).toEqual([
        { ok: false, reason: "used" },
        { ok: false, reason: "used" },
      ]);
    }
  });

  it("refuses expired and unknown tickets, and prunes expired rows", async () => {
    let now = Date.now();
    const store = new PrismaTicketStore(t.db, newId);
    const tickets = createTicketService({ store, now: () => new Date(now) });
    const { token } = await tickets.issueTicket({ userId, vmId });
    now += 31_000;
    expect(await tickets.consumeTicket(token)).toEqual({ ok: false, reason: "expired" });
    expect(await tickets.consumeTicket("B".repeat(43))).toEqual({ ok: false, reason: "unknown" });
    expect(await store.prune(new Date(now))).toBeGreaterThanOrEqual(1);
    expect(await t.db.consoleTicket.count({ where: { expiresAt: { lt: new Date(now) } } })).toBe(0);
  });
});
