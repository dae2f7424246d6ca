/**
 * The VM event hub as one of several web instances (issue 13 point 1), on the run's real database
 * with a bus the test drives (the PostgreSQL bus itself: ../bus.itest.ts): what another instance
 * says arrives in this instance's browser streams (a task view re-read from its row, a VM's owner
 * forgotten and its state re-read), and after the bus's connection dropped and came back
 * (`resync`), the hub re-reads what its browsers show — the VMs they watch and every task that
 * changed while nobody listened — since what was said meanwhile is lost.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import type { AgentClient } from "../agent/client";
import { setAgentForTests } from "../agent/instance";
import { type Bus, type BusEvent, type BusMessage, setBusForTests } from "../bus";
import { unsafeCreateTask, unsafeEndTask } from "../dal/tasks";
import { unsafeCreateUser } from "../dal/unsafe-create-user";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { getHub, type HubEvent } from "./hub";

/** A bus of a shared database whose deliveries the test makes. */
class DrivenBus implements Bus {
  readonly shared = true;
  readonly published: BusMessage[] = [];
  readonly #listeners = new Set<(e: BusEvent) => void>();
  start() {}
  publish(m: BusMessage) {
    this.published.push(m);
  }
  on(listener: (e: BusEvent) => void) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  deliver(e: BusEvent) {
    for (const l of this.#listeners) l(e);
  }
  listening() {
    return true;
  }
  async flush() {}
  async stop() {}
}

/** An agent that cannot answer (the hub then shows VMs as "unknown"): enough for what is tested. */
const silentAgent = {
  call: () => Promise.reject(new Error("no agent in this test")),
  subscribe: () => () => {},
} as unknown as AgentClient;

let t: TestDb;
const bus = new DrivenBus();
let ownerId: string;
const got: HubEvent[] = [];

beforeAll(async () => {
  t = await setupTestDb();
  setBusForTests(bus);
  setAgentForTests(silentAgent);
  (globalThis as { __zaphodHub?: unknown }).__zaphodHub = undefined;
  ownerId = (
    await unsafeCreateUser("cli", {
      username: "hubowner",
      email: "hubowner@example.org",
      name: "Owner",
      password: "hub-owner-password-1",
      role: "member",
    })
  ).id;
  await t.db.vm.create({
    data: {
      id: "vm-1",
      name: "hub-vm",
      ownerId,
      image: "busybox-1",
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
    },
  });
  getHub().subscribe({ accepts: () => true, send: (e) => got.push(e) });
});

afterAll(async () => {
  setBusForTests(undefined);
  setAgentForTests(undefined);
  await t?.close();
});

async function until<T>(find: () => T | undefined, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error("not seen in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const taskEvent = (id: string, status?: string) => () =>
  got.find((e) => e.type === "task" && e.task.id === id && (!status || e.task.status === status));

it("a task another instance follows reaches this instance's streams, re-read from its row", async () => {
  const id = await unsafeCreateTask({
    vmId: "vm-1",
    ownerId,
    actorId: null,
    kind: "start",
    step: "booting",
    followerId: "web@other:3001",
  });
  bus.deliver({ t: "task", id, ownerId });
  const event = await until(taskEvent(id));
  expect(event).toMatchObject({ type: "task", ownerId, task: { id, kind: "start", status: "running" } });
});

it("a VM whose owner changed on another instance is re-read under its new owner", async () => {
  getHub().refresh("hub-vm");
  await until(() => got.find((e) => e.type === "vm" && e.ownerId === ownerId));
  const newOwner = (
    await unsafeCreateUser("cli", {
      username: "hubnew",
      email: "hubnew@example.org",
      name: "New",
      password: "hub-new-password-1",
      role: "member",
    })
  ).id;
  await t.db.vm.update({ where: { id: "vm-1" }, data: { ownerId: newOwner } });
  bus.deliver({ t: "vm", name: "hub-vm" });
  const event = await until(() => got.find((e) => e.type === "vm" && e.ownerId === newOwner));
  expect(event).toMatchObject({ type: "vm", vm: { name: "hub-vm" } });
  await t.db.vm.update({ where: { id: "vm-1" }, data: { ownerId } });
  getHub().forgetOwner("hub-vm");
  // And this instance says so to the others when the owner changes here.
  expect(bus.published).toContainEqual({ t: "vm", name: "hub-vm" });
});

it("after a resync it re-reads the VMs its browsers watch and the tasks that changed while it was deaf", async () => {
  const dropped = new Date();
  // While the bus was down another instance ended one task and started another; nothing came.
  const ended = await unsafeCreateTask({ vmId: "vm-1", ownerId, actorId: null, kind: "shutdown", step: "x" });
  await unsafeEndTask(ended, { status: "succeeded", error: null, detail: {} });
  const started = await unsafeCreateTask({ vmId: "vm-1", ownerId, actorId: null, kind: "reboot", step: "y" });
  const before = got.length;
  bus.deliver({ t: "resync", since: dropped });
  await until(taskEvent(ended, "succeeded"));
  await until(taskEvent(started, "running"));
  await until(() => got.slice(before).find((e) => e.type === "vm" && e.vm.name === "hub-vm"));
});

it("a page's read of a VM is one agent call for callers at once, reused briefly, re-read once the VM changed", async () => {
  let calls = 0;
  const counting = {
    call: async () => {
      calls += 1;
      await new Promise((r) => setTimeout(r, 50));
      return {
        name: "hub-vm",
        state: "running",
        stage: "up",
        stageDetail: null,
        busy: null,
        pid: 4242,
        bootId: String(calls),
        processUptimeSeconds: 10,
        guest: null,
        pausedForSpace: null,
      };
    },
    subscribe: () => () => {},
  } as unknown as AgentClient;
  setAgentForTests(counting);
  try {
    const hub = getHub();
    const ten = await Promise.all(Array.from({ length: 10 }, () => hub.live("hub-vm")));
    expect(calls).toBe(1);
    expect(new Set(ten.map((l) => l.bootId))).toEqual(new Set(["1"]));
    expect((await hub.live("hub-vm")).bootId).toBe("1"); // reused
    // Another instance says the VM changed: the next read asks the agent again.
    bus.deliver({ t: "vm", name: "hub-vm" });
    await until(() => (calls >= 2 ? true : undefined)); // the hub's own refresh
    const after = await hub.live("hub-vm");
    expect(Number(after.bootId)).toBeGreaterThanOrEqual(2);
    // Older than the bound: read again.
    const before = calls;
    await hub.live("hub-vm", 0);
    expect(calls).toBe(before + 1);
    // An agent that does not answer: "unknown", never kept — the next read asks again.
    setAgentForTests(silentAgent);
    bus.deliver({ t: "vm", name: "hub-vm" });
    expect((await hub.live("hub-vm")).state).toBe("unknown");
    setAgentForTests(counting);
    expect((await hub.live("hub-vm")).state).toBe("running");
  } finally {
    setAgentForTests(silentAgent);
  }
});
