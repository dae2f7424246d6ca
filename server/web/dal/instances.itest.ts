/**
 * Several web instances on one database (issue 13 point 1), against the real database of the run
 * (SQLite, and PostgreSQL in the db-pg step): a task a live instance follows is never taken from
 * it; once its heartbeat is stale (kill -9) or its row is gone (a graceful stop), exactly one of two
 * instances adopting at once gets it; a schedule's lease is held by one holder at a time.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actionFailure, activeCallers } from "../testing/actors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import type { Caller } from "./caller";
import {
  listWebInstances,
  unsafeAcquireLease,
  unsafeBeat,
  unsafeClaimTask,
  unsafeLiveInstances,
  unsafeReleaseLease,
  unsafeRemoveInstance,
} from "./instances";
import { unsafeCreateTask, unsafeEndTask } from "./tasks";
import { unsafeCreateUser } from "./unsafe-create-user";

const TTL = 10_000;
let t: TestDb;
let ownerId: string;

beforeAll(async () => {
  t = await setupTestDb();
  ownerId = (
    await unsafeCreateUser("cli", {
      username: "owner",
      email: "owner@example.org",
      name: "Owner",
      password: "owner-password-1",
      role: "member",
    })
  ).id;
});
afterAll(async () => t?.close());

const task = (followerId: string | null) =>
  unsafeCreateTask({ vmId: null, ownerId, actorId: null, kind: "start", step: "starting", followerId });
const followerOf = async (id: string) =>
  (await t.db.task.findUniqueOrThrow({ where: { id }, select: { followerId: true } })).followerId;

describe("who follows a running task", () => {
  it("a live follower keeps its task; its own restart (same id) takes it back at once", async () => {
    await unsafeBeat("web@a", "web");
    const id = await task("web@a");
    expect(await unsafeClaimTask(id, "web@b", TTL)).toBe(false);
    expect(await followerOf(id)).toBe("web@a");
    expect(await unsafeClaimTask(id, "web@a", TTL)).toBe(true);
  });

  it("a follower whose heartbeat is stale (kill -9) is replaced by exactly one of two instances", async () => {
    const long = new Date(Date.now() - 60_000);
    await unsafeBeat("web@dead", "web", long);
    const ids = await Promise.all([task("web@dead"), task("web@dead"), task("web@dead")]);
    for (const id of ids) {
      const wins = await Promise.all([unsafeClaimTask(id, "web@b", TTL), unsafeClaimTask(id, "web@c", TTL)]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(["web@b", "web@c"]).toContain(await followerOf(id));
    }
    // Alive again (a network hiccup): the new (live) follower keeps the task all the same.
    await Promise.all([
      unsafeBeat("web@b", "web"),
      unsafeBeat("web@c", "web"),
      unsafeBeat("web@dead", "web"),
    ]);
    expect(await unsafeClaimTask(ids[0] as string, "web@dead", TTL)).toBe(false);
  });

  it("a follower that left (its row deleted at a graceful stop) is replaced at once; a task with none too", async () => {
    await unsafeBeat("web@leaving", "web");
    const id = await task("web@leaving");
    expect(await unsafeClaimTask(id, "web@b", TTL)).toBe(false);
    await unsafeRemoveInstance("web@leaving");
    expect(await unsafeClaimTask(id, "web@b", TTL)).toBe(true);
    const orphan = await task(null);
    expect(await unsafeClaimTask(orphan, "web@c", TTL)).toBe(true);
    expect(await followerOf(orphan)).toBe("web@c");
  });

  it("an ended task is nobody's to adopt", async () => {
    const id = await task("web@gone-forever");
    await unsafeEndTask(id, { status: "succeeded", error: null, detail: {} });
    expect(await unsafeClaimTask(id, "web@b", TTL)).toBe(false);
    expect(await unsafeClaimTask(randomUUID(), "web@b", TTL)).toBe(false);
  });

  it("lists the live instances only", async () => {
    const live = (await unsafeLiveInstances(TTL)).map((i) => i.id);
    expect(live).toContain("web@a");
    expect(live).not.toContain("web@leaving");
  });

  it("shows the admin the live web instances (not CLI runs) and what each follows; a member nothing", async () => {
    const { root, mem } = await activeCallers(t.db, [
      ["root", "admin"],
      ["mem", "member"],
    ]);
    await Promise.all([unsafeBeat("web@a", "web"), unsafeBeat("cli@x:1", "cli")]);
    await task("web@a");
    const seen = await listWebInstances(root as Caller, TTL);
    expect(seen.map((i) => i.id)).toContain("web@a");
    expect(seen.map((i) => i.id)).not.toContain("cli@x:1");
    expect(seen.find((i) => i.id === "web@a")?.following).toBeGreaterThanOrEqual(2);
    expect((await actionFailure(listWebInstances(mem as Caller, TTL))).code).toBe("forbidden");
  });
});

describe("a schedule's lease", () => {
  it("is held by one holder at a time, renewed by it, taken over once expired or released", async () => {
    const now = new Date();
    const both = await Promise.all([
      unsafeAcquireLease("snapshots", "web@a", 60_000, now),
      unsafeAcquireLease("snapshots", "web@b", 60_000, now),
    ]);
    expect(both.filter(Boolean)).toHaveLength(1);
    const holder = both[0] ? "web@a" : "web@b";
    const other = both[0] ? "web@b" : "web@a";
    expect(await unsafeAcquireLease("snapshots", holder, 60_000)).toBe(true);
    expect(await unsafeAcquireLease("snapshots", other, 60_000)).toBe(false);
    // An hour later the holder has not renewed it: the other takes it.
    const later = new Date(Date.now() + 3600_000);
    expect(await unsafeAcquireLease("snapshots", other, 60_000, later)).toBe(true);
    expect(await unsafeAcquireLease("snapshots", holder, 60_000, later)).toBe(false);
    await unsafeReleaseLease("snapshots", other);
    expect(await unsafeAcquireLease("snapshots", holder, 60_000)).toBe(true);
  });
});
