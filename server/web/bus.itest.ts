/**
 * The web instances' event bus (issue 13 point 1) against the run's real database. On PostgreSQL
 * (the db-pg step): two buses of two instances on one database hear each other and never
 * themselves, a message carries ids only, and when an instance's listening connection is killed
 * (pg_terminate_backend, as a restarted or failed-over database would) it comes back, says
 * `resync` with when it dropped, and hears what follows. On SQLite there is one instance: a
 * publish goes nowhere and nothing arrives (and the same size rule holds).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BusEvent, decodeMessage, encodeMessage, getBus, PgBus, setBusForTests } from "./bus";
import { setupTestDb, type TestDb } from "./testing/test-db";

let t: TestDb;
beforeAll(async () => {
  t = await setupTestDb();
});
afterAll(async () => t?.close());

/** Resolves with the first event `accept` takes, or rejects after `ms`. */
function next(bus: PgBus, accept: (e: BusEvent) => boolean, ms = 5_000): Promise<BusEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no such event within ${ms} ms`));
    }, ms);
    const off = bus.on((e) => {
      if (!accept(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("messages", () => {
  it("carry ids only: a payload near PostgreSQL's 8000-byte limit is refused, unknown ones ignored", () => {
    expect(() => encodeMessage({ t: "vm", name: "x".repeat(8_000) }, "web@a")).toThrow(/ids only/);
    const payload = encodeMessage({ t: "task", id: "t1", ownerId: "u1" }, "web@a");
    expect(Buffer.byteLength(payload)).toBeLessThan(100);
    expect(decodeMessage(payload, "web@b")).toEqual({ t: "task", id: "t1", ownerId: "u1" });
    expect(decodeMessage(payload, "web@a")).toBeNull(); // its own
    expect(decodeMessage('{"t":"drop-tables","i":"x"}', "web@b")).toBeNull();
    expect(decodeMessage("not json", "web@b")).toBeNull();
  });
});

describe("between two instances", () => {
  it(!process.env.TEST_DATABASE_URL?.startsWith("postgres")
    ? "on SQLite: one instance, a publish goes nowhere"
    : "on PostgreSQL: each hears the other, never itself; a killed listener comes back and says resync", async () => {
    if (t.provider === "sqlite") {
      setBusForTests(undefined);
      const bus = getBus();
      expect(bus.listening()).toBe(true);
      const heard: BusEvent[] = [];
      bus.on((e) => heard.push(e));
      bus.publish({ t: "vm", name: "alice-vm" });
      await bus.flush();
      expect(heard).toEqual([]);
      expect(() => bus.publish({ t: "vm", name: "x".repeat(8_000) })).toThrow(/ids only/);
      setBusForTests(undefined);
      return;
    }
    const a = new PgBus(t.url, () => "web@a");
    const b = new PgBus(t.url, () => "web@b");
    try {
      a.start();
      b.start();
      await until(() => a.listening() && b.listening());
      const heardByA: BusEvent[] = [];
      a.on((e) => heardByA.push(e));

      const atB = next(b, (e) => e.t === "ended");
      a.publish({ t: "ended", userId: "u-suspended" });
      expect(await atB).toEqual({ t: "ended", userId: "u-suspended" });
      const atA = next(a, (e) => e.t === "task");
      b.publish({ t: "task", id: "task-1", ownerId: "u1" });
      expect(await atA).toEqual({ t: "task", id: "task-1", ownerId: "u1" });
      expect(heardByA.filter((e) => e.t === "ended")).toEqual([]); // never its own

      // B's listening connection is killed; B comes back on its own and says resync.
      const before = new Date();
      const resync = next(b, (e) => e.t === "resync", 15_000);
      const admin = new pg.Client({ connectionString: t.url });
      await admin.connect();
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1",
        ["zaphod-bus web@b"],
      );
      await admin.end();
      expect(killed.rowCount).toBe(1);
      const event = await resync;
      expect(event.t === "resync" && event.since.getTime()).toBeGreaterThanOrEqual(before.getTime() - 1_000);
      await until(() => b.listening());
      const again = next(b, (e) => e.t === "vm");
      a.publish({ t: "vm", name: "alice-vm" });
      expect(await again).toEqual({ t: "vm", name: "alice-vm" });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 30_000);
});
