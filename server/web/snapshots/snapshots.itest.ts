/**
 * The snapshot service against a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), with
 * a small in-process stand-in for the agent (the real agent is covered by
 * server/agent/snapshots.itest.ts and e2e/snapshots/): quota refusals that name their limit, the
 * approval policy, restores never refused by the quota, and member B never seeing, restoring or
 * deleting member A's snapshots (not-found, as for a missing one).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentEvent, SnapshotInfo, TaskInfo } from "../../protocol/agent";
import type { AgentClient } from "../agent/client";
import { setAgentForTests } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { unsafeCreateUser } from "../dal/unsafe-create-user";
import { ActionFailure } from "../errors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import {
  approveSnapshot,
  deleteSnapshot,
  getQuotaForVm,
  listAllSnapshots,
  listSnapshotsForVm,
  rejectSnapshot,
  restoreSnapshot,
  setMemberSnapshotQuota,
  setSnapshotDefaults,
  takeSnapshot,
} from "./service";

let t: TestDb;
let admin: Caller;
let alice: Caller;
let bob: Caller;
const MiB = 1024 ** 2;
const calls: string[] = [];

/** Answers like the agent: tasks end 50 ms later with a task.done event. */
function fakeAgent(): AgentClient {
  const listeners = new Set<(e: AgentEvent) => void>();
  const tasks = new Map<string, TaskInfo>();
  const info = (vm: string, id: string, kind: "manual" | "safety"): SnapshotInfo => ({
    id,
    vm,
    createdAt: new Date().toISOString(),
    kind,
    includesStorage: false,
    live: true,
    pauseMs: 120,
    image: { name: "img", mtimeMs: 1, sizeBytes: 1 },
    files: [{ disk: "root", apparentBytes: 1024 * MiB, allocatedBytes: 20 * MiB }],
    apparentBytes: 1024 * MiB,
    allocatedBytes: 20 * MiB,
  });
  const startTask = (id: string, op: TaskInfo["op"], vm: string, snapshot: SnapshotInfo) => {
    const task: TaskInfo = {
      id,
      op,
      vm,
      state: "running",
      step: "accepted",
      startedAt: new Date().toISOString(),
      endedAt: null,
      error: null,
      result: null,
      progress: null,
      log: [],
      snapshot: null,
    };
    tasks.set(id, task);
    setTimeout(() => {
      Object.assign(task, {
        state: "succeeded",
        log: ["guest paused 0.12 s"],
        snapshot,
        endedAt: new Date().toISOString(),
      });
      for (const l of listeners) l({ v: 1, type: "task.done", task: { ...task } });
    }, 50);
    return { task: { ...task } };
  };
  // biome-ignore lint/suspicious/noExplicitAny: a stand-in for the typed client
  const call = async (op: string, args: any, options?: { id?: string }): Promise<any> => {
    calls.push(op);
    const id = options?.id ?? randomUUID();
    switch (op) {
      case "vm.status":
        return {
          name: args.name,
          state: "running",
          disks: [{ disk: "root", apparentBytes: 1024 * MiB, allocatedBytes: 20 * MiB }],
        };
      case "snapshot.create":
        return startTask(id, "snapshot.create", args.name, info(args.name, args.id, "manual"));
      case "snapshot.restore":
        return startTask(id, "snapshot.restore", args.name, info(args.name, args.safetyId, "safety"));
      case "snapshot.delete":
        return { deleted: info(args.name, args.id, "manual") };
      case "snapshot.usage":
        return { vms: [], allocatedBytes: 0, freeBytes: 0 };
      case "task.get": {
        const task = tasks.get(args.id);
        if (!task) throw Object.assign(new Error("no such task"), { code: "not-found" });
        return task;
      }
      default:
        throw new Error(`fake agent: ${op}`);
    }
  };
  return {
    call,
    run: async () => {
      throw new Error("unused");
    },
    subscribe: (l: (e: AgentEvent) => void) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    openConsole: () => {
      throw new Error("unused");
    },
    close: () => undefined,
  } as unknown as AgentClient;
}

async function callerOf(username: string): Promise<Caller> {
  const u = await t.db.user.findUniqueOrThrow({ where: { username } });
  return {
    id: u.id,
    username: u.username,
    name: u.name,
    email: u.email,
    role: u.role as Caller["role"],
    status: u.status as Caller["status"],
  };
}

async function failure(p: Promise<unknown>): Promise<ActionFailure> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ActionFailure) return e;
    throw e;
  }
  throw new Error("expected an ActionFailure");
}

async function waitStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const row = await t.db.snapshot.findUnique({ where: { id }, select: { status: true } });
    if (row?.status === status) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`snapshot ${id} never became ${status}`);
}

beforeAll(async () => {
  t = await setupTestDb();
  setAgentForTests(fakeAgent());
  for (const [username, role] of [
    ["snap-admin", "admin"],
    ["alice", "member"],
    ["bob", "member"],
  ] as const) {
    await unsafeCreateUser("cli", {
      username,
      email: `${username}@example.org`,
      name: username,
      password: "a-long-password-1",
      role,
    });
    await t.db.user.update({ where: { username }, data: { status: "active" } });
  }
  admin = await callerOf("snap-admin");
  alice = await callerOf("alice");
  bob = await callerOf("bob");
  const vm = (name: string, ownerId: string) => ({
    id: randomUUID(),
    name,
    ownerId,
    image: "img",
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  await t.db.vm.createMany({ data: [vm("alice-vm", alice.id), vm("bob-vm", bob.id)] });
});

afterAll(async () => {
  setAgentForTests(undefined);
  await t?.close();
});

describe("snapshot service", () => {
  let aliceSnap = "";

  it("a member takes a snapshot: a Task follows the agent to ready, with its size and the pause in the log", async () => {
    const res = await takeSnapshot(alice, { vmName: "alice-vm", label: "first", includeStorage: false });
    expect(res.status).toBe("running");
    aliceSnap = res.snapshotId;
    await waitStatus(aliceSnap, "ready");
    const [view] = await listSnapshotsForVm(alice, "alice-vm");
    expect(view).toMatchObject({
      id: aliceSnap,
      label: "first",
      sizeBytes: 20 * MiB,
      live: true,
      pauseMs: 120,
    });
    const readTask = () =>
      t.db.task.findUniqueOrThrow({ where: { id: res.taskId as string }, include: { logs: true } });
    let done = await readTask();
    expect(done.kind).toBe("snapshot");
    // Re-read on every turn: the row ends a moment after the snapshot row is ready.
    for (let i = 0; i < 50 && done.status === "running"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      done = await readTask();
    }
    expect(done.status).toBe("succeeded");
    expect(done.logs.map((l) => l.message).join("\n")).toMatch(/guest paused 0\.12 s/);
  });

  it("member B cannot see, restore or delete A's snapshots: not-found, like a missing one", async () => {
    expect((await failure(listSnapshotsForVm(bob, "alice-vm"))).code).toBe("not-found");
    expect(await listSnapshotsForVm(bob, "bob-vm")).toEqual([]);
    const missing = randomUUID();
    for (const vmName of ["alice-vm", "bob-vm"]) {
      const r = await failure(restoreSnapshot(bob, { vmName, snapshotId: aliceSnap, confirm: aliceSnap }));
      expect(r.code).toBe("not-found");
      const d = await failure(deleteSnapshot(bob, { vmName, snapshotId: aliceSnap }));
      expect(d.code).toBe("not-found");
    }
    const m = await failure(deleteSnapshot(bob, { vmName: "bob-vm", snapshotId: missing }));
    expect(m.code).toBe("not-found");
    expect(m.message).toBe(
      (await failure(deleteSnapshot(bob, { vmName: "bob-vm", snapshotId: aliceSnap }))).message,
    );
    expect(
      (await failure(takeSnapshot(bob, { vmName: "alice-vm", label: "", includeStorage: false }))).code,
    ).toBe("not-found");
    expect((await failure(listAllSnapshots(bob))).code).toBe("forbidden");
    expect((await failure(approveSnapshot(bob, aliceSnap))).code).toBe("forbidden");
    // Still there for A.
    expect((await listSnapshotsForVm(alice, "alice-vm")).map((s) => s.id)).toEqual([aliceSnap]);
  });

  it("quota refusals name the limit: count, space used, space the new snapshot needs", async () => {
    await setMemberSnapshotQuota(admin, { userId: alice.id, maxCount: 1, maxBytes: null });
    const count = await failure(
      takeSnapshot(alice, { vmName: "alice-vm", label: "", includeStorage: false }),
    );
    expect(count.code).toBe("conflict");
    expect(count.message).toMatch(/count limit reached: 1 of 1 snapshots/);

    await setMemberSnapshotQuota(admin, { userId: alice.id, maxCount: null, maxBytes: 10 * MiB });
    const used = await failure(takeSnapshot(alice, { vmName: "alice-vm", label: "", includeStorage: false }));
    expect(used.message).toMatch(/space limit reached: 20\.0 MiB of 10\.0 MiB used/);

    await setMemberSnapshotQuota(admin, { userId: alice.id, maxCount: null, maxBytes: 30 * MiB });
    const needs = await failure(
      takeSnapshot(alice, { vmName: "alice-vm", label: "", includeStorage: false }),
    );
    expect(needs.message).toMatch(/needs about 20\.0 MiB, and only 10\.0 MiB of 30\.0 MiB is left/);

    const quota = await getQuotaForVm(alice, "alice-vm");
    expect(quota).toMatchObject({ usedCount: 1, usedBytes: 20 * MiB, maxBytes: 30 * MiB, maxCount: 5 });
    expect(quota.source).toEqual({ count: "default", bytes: "member" });
    const audit = await t.db.auditEvent.findMany({ where: { action: "snapshot.create", result: "denied" } });
    expect(audit.length).toBe(3);
  });

  it("a restore is never refused by the quota: its safety snapshot is kept and counted", async () => {
    await setMemberSnapshotQuota(admin, { userId: alice.id, maxCount: 1, maxBytes: null });
    expect(
      (await failure(restoreSnapshot(alice, { vmName: "alice-vm", snapshotId: aliceSnap, confirm: "no" })))
        .code,
    ).toBe("invalid");
    const { safetyId } = await restoreSnapshot(alice, {
      vmName: "alice-vm",
      snapshotId: aliceSnap,
      confirm: aliceSnap,
    });
    await waitStatus(safetyId, "ready");
    await waitStatus(aliceSnap, "ready");
    const list = await listSnapshotsForVm(alice, "alice-vm");
    expect(list.find((s) => s.id === safetyId)).toMatchObject({ kind: "safety", status: "ready" });
    expect((await getQuotaForVm(alice, "alice-vm")).usedCount).toBe(2);
    // Over the count now: a new snapshot is refused until one is deleted.
    expect(
      (await failure(takeSnapshot(alice, { vmName: "alice-vm", label: "", includeStorage: false }))).message,
    ).toMatch(/2 of 1/);
    await deleteSnapshot(alice, { vmName: "alice-vm", snapshotId: safetyId });
    expect(calls).toContain("snapshot.delete");
    expect((await listSnapshotsForVm(alice, "alice-vm")).map((s) => s.id)).toEqual([aliceSnap]);
    await setMemberSnapshotQuota(admin, { userId: alice.id, maxCount: null, maxBytes: null });
  });

  it("approval policy: requested → approved → running → ready; a rejected one does not count", async () => {
    await setSnapshotDefaults(admin, { policy: "approval", maxCount: 5, maxBytes: 10 * 1024 ** 3 });
    const creates = calls.filter((c) => c === "snapshot.create").length;
    const a = await takeSnapshot(bob, { vmName: "bob-vm", label: "please", includeStorage: false });
    expect(a).toMatchObject({ status: "requested", taskId: null });
    expect(calls.filter((c) => c === "snapshot.create")).toHaveLength(creates); // nothing ran yet
    const all = await listAllSnapshots(admin);
    expect(all.find((s) => s.id === a.snapshotId)).toMatchObject({
      status: "requested",
      owner: "bob",
      vmName: "bob-vm",
    });
    const { taskId } = await approveSnapshot(admin, a.snapshotId);
    expect(taskId).toBeTruthy();
    await waitStatus(a.snapshotId, "ready");
    expect((await failure(approveSnapshot(admin, a.snapshotId))).code).toBe("conflict");
    const b = await takeSnapshot(bob, { vmName: "bob-vm", label: "no", includeStorage: false });
    await rejectSnapshot(admin, b.snapshotId);
    expect((await getQuotaForVm(bob, "bob-vm")).usedCount).toBe(1);
    expect((await getQuotaForVm(bob, "bob-vm")).policy).toBe("approval");
    await setSnapshotDefaults(admin, { policy: "immediate", maxCount: 5, maxBytes: 10 * 1024 ** 3 });
  });
});
