import { describe, expect, expectTypeOf, it } from "vitest";
import type { Db } from "../db/client";
import { type ConsoleTicketClient, PrismaTicketStore } from "./prisma-ticket-store";
import { createTicketService, hashTicketToken, MemoryTicketStore, type TicketRecord } from "./tickets";

function clock(start = Date.parse("2026-11-30T23:00:00Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

/** A fake of the Prisma slice that applies `updateMany` conditions like one SQL UPDATE would. */
function fakePrisma(): ConsoleTicketClient & { rows: Map<string, TicketRecord & { usedAt: Date | null }> } {
  const rows = new Map<string, TicketRecord & { usedAt: Date | null }>();
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  return {
    rows,
    consoleTicket: {
      async create({ data }) {
        rows.set(data.tokenHash, { ...data, usedAt: null });
      },
      async updateMany({ where, data }) {
        await tick();
        const row = rows.get(where.tokenHash);
        if (!row || row.usedAt !== null || !(row.expiresAt > where.expiresAt.gt)) return { count: 0 };
        row.usedAt = data.usedAt;
        return { count: 1 };
      },
      async findUnique({ where }) {
        await tick();
        const row = rows.get(where.tokenHash);
        return row
          ? { userId: row.userId, vmId: row.vmId, expiresAt: row.expiresAt, usedAt: row.usedAt }
          : null;
      },
      async deleteMany({ where }) {
        let count = 0;
        for (const [k, r] of rows) if (r.expiresAt < where.expiresAt.lt && rows.delete(k)) count++;
        return { count };
      },
    },
  };
}

describe.each([
  ["memory store", () => new MemoryTicketStore()],
  ["prisma store", () => new PrismaTicketStore(fakePrisma())],
])("console tickets (%s)", (_name, makeStore) => {
  it("issues a 32-byte base64url token and stores only its sha256", async () => {
    const prisma = fakePrisma();
    const service = createTicketService({ store: new PrismaTicketStore(prisma) });
    const { token, expiresAt } = await service.issueTicket({ userId: "u1", vmId: "vm1" });
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, "base64url")).toHaveLength(32);
    const [stored] = [...prisma.rows.values()];
    expect(stored?.tokenHash).toBe(hashTicketToken(token));
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(30_000);
  });

  it("is single use", async () => {
    const service = createTicketService({ store: makeStore() });
    const { token } = await service.issueTicket({ userId: "u1", vmId: "vm1" });
    expect(await service.consumeTicket(token)).toEqual({ ok: true, userId: "u1", vmId: "vm1" });
    expect(await service.consumeTicket(token)).toEqual({ ok: false, reason: "used" });
  });

  it("check 16: lets exactly one of two concurrent consumes win", async () => {
    const service = createTicketService({ store: makeStore() });
    for (let i = 0; i < 20; i++) {
      const { token } = await service.issueTicket({ userId: "u1", vmId: "vm1" });
      const results = await Promise.all([service.consumeTicket(token), service.consumeTicket(token)]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.find((r) => !r.ok)).toEqual({ ok: false, reason: "used" });
    }
  });

  it("check 16: expires after the TTL (30 s, within the catalogue's 60 s)", async () => {
    const c = clock();
    const service = createTicketService({ store: makeStore(), now: c.now });
    const { token } = await service.issueTicket({ userId: "u1", vmId: "vm1" });
    c.advance(30_000);
    expect(await service.consumeTicket(token)).toEqual({ ok: false, reason: "expired" });
    const second = await service.issueTicket({ userId: "u1", vmId: "vm1" });
    c.advance(29_999);
    expect((await service.consumeTicket(second.token)).ok).toBe(true);
  });

  it("refuses unknown and malformed tokens", async () => {
    const service = createTicketService({ store: makeStore() });
    await service.issueTicket({ userId: "u1", vmId: "vm1" });
    for (const token of ["", "x", "A".repeat(43), "A".repeat(44), `${"A".repeat(42)}=`, "../../etc/passwd"]) {
      expect(await service.consumeTicket(token)).toEqual({ ok: false, reason: "unknown" });
    }
  });

  it("check 16: refuses another VM's ticket and burns it", async () => {
    const service = createTicketService({ store: makeStore() });
    const { token } = await service.issueTicket({ userId: "u1", vmId: "vm1" });
    expect(await service.consumeTicket(token, { vmId: "vm2" })).toEqual({ ok: false, reason: "wrong-vm" });
    expect(await service.consumeTicket(token, { vmId: "vm1" })).toEqual({ ok: false, reason: "used" });
  });
});

describe("PrismaTicketStore", () => {
  it("fits the generated Prisma client (a compile-time check)", () => {
    expectTypeOf<Db>().toExtend<ConsoleTicketClient>();
  });

  it("prunes expired rows", async () => {
    const prisma = fakePrisma();
    const store = new PrismaTicketStore(prisma);
    const c = clock();
    const service = createTicketService({ store, now: c.now });
    await service.issueTicket({ userId: "u1", vmId: "vm1" });
    c.advance(60_000);
    await service.issueTicket({ userId: "u1", vmId: "vm1" });
    expect(await store.prune(c.now())).toBe(1);
    expect(prisma.rows.size).toBe(1);
  });
});
