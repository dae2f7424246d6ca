/**
 * The VM service and its task pipeline against a real database (SQLite, or PostgreSQL with
 * TEST_DATABASE_URL) and an in-process stand-in for the agent that the test drives step by step
 * (the real agent is covered by server/agent/*.itest.ts and e2e/vms/): start, refuse, follow,
 * settle and recover; the reboot's stages mirrored from the agent's task and "Hard reset now" as
 * that reboot's hard reset; the access rule (another member's VM is not-found, a permission the
 * member lacks is forbidden, the admin acts through vm.power.any); and a new kind as one entry.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AgentEvent, HostNetworkInfo, RebootProgress, TaskInfo, TaskOp } from "../../protocol/agent";
import { AgentCallError, type AgentClient } from "../agent/client";
import { setAgentForTests } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { unsafeCreateUser } from "../dal/unsafe-create-user";
import { ActionFailure } from "../errors";
import { recoverTasks, startTask, type TaskKindSpec } from "../tasks/pipeline";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { destroyVm, provisionVm, requestPowerAction } from "./service";

let t: TestDb;
let admin: Caller;
let alice: Caller;
let bob: Caller;

type Call = { op: string; args: Record<string, unknown>; id?: string; actor?: { basis: string } };

/** Answers like the agent; its tasks run until the test reports progress or ends them. */
class FakeAgent {
  calls: Call[] = [];
  tasks = new Map<string, TaskInfo>();
  /** The host network `host.network` answers; null: networking is off (as an agent without it says). */
  network: HostNetworkInfo | null = null;
  /** The next call of this op is refused with this agent error code. */
  refuse = new Map<string, AgentCallError["code"]>();
  /** The next call of this op is answered only once this promise resolves (a slow, busy agent). */
  hold = new Map<string, Promise<void>>();
  private listeners = new Set<(e: AgentEvent) => void>();

  private emit(type: "task.progress" | "task.done", task: TaskInfo) {
    for (const l of this.listeners) l({ v: 1, type, task: structuredClone(task) });
  }

  begin(id: string, op: TaskOp, vm: string, extra: Partial<TaskInfo> = {}): TaskInfo {
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
      reboot: null,
      ...extra,
    };
    this.tasks.set(id, task);
    return task;
  }

  progress(id: string, patch: Partial<TaskInfo>) {
    const task = this.tasks.get(id);
    if (!task) throw new Error(`no task ${id}`);
    Object.assign(task, patch);
    this.emit("task.progress", task);
  }

  finish(id: string, patch: Partial<TaskInfo> = {}) {
    const task = this.tasks.get(id);
    if (!task) throw new Error(`no task ${id}`);
    Object.assign(task, { state: "succeeded", step: "done", endedAt: new Date().toISOString() }, patch);
    this.emit("task.done", task);
  }

  runningOf(vm: string, op: TaskOp): TaskInfo | undefined {
    return [...this.tasks.values()].find((x) => x.vm === vm && x.op === op && x.state === "running");
  }

  client(): AgentClient {
    // biome-ignore lint/suspicious/noExplicitAny: a stand-in for the typed client
    const call = async (op: string, args: any, options?: { id?: string; actor?: any }): Promise<any> => {
      // Reads (the hub's status refreshes, the pipeline's polls) are not what the tests count.
      if (op !== "vm.status" && op !== "task.get")
        this.calls.push({ op, args, id: options?.id, actor: options?.actor });
      const held = this.hold.get(op);
      if (held) {
        this.hold.delete(op);
        await held;
      }
      const code = this.refuse.get(op);
      if (code) {
        this.refuse.delete(op);
        throw new AgentCallError(code, `fake agent refuses ${op}`, op as TaskOp);
      }
      const id = options?.id ?? randomUUID();
      switch (op) {
        case "vm.status":
          throw new AgentCallError("internal", "not needed", "vm.status");
        case "host.network":
          if (!this.network) throw new AgentCallError("invalid-request", "networking is off", "host.network");
          return structuredClone(this.network);
        case "task.get": {
          const task = this.tasks.get(args.id);
          if (!task) throw new AgentCallError("not-found", "no such task", "task.get");
          return structuredClone(task);
        }
        case "vm.reset": {
          // During a reboot: that reboot's hard reset, the reply carries the reboot's task.
          const reboot = this.runningOf(args.name, "vm.reboot");
          if (reboot) return { task: structuredClone(reboot) };
          return { task: this.begin(id, "vm.reset", args.name) };
        }
        case "vm.start":
        case "vm.reboot":
        case "vm.shutdown":
        case "vm.poweroff":
        case "vm.create":
        case "vm.destroy":
        case "vm.growStorage":
        case "vm.setOwner":
          return { task: structuredClone(this.begin(id, op as TaskOp, args.name)) };
        case "vm.setAccess":
          return {
            hostKeys: [],
            sshKeyCount: args.access.sshAuthorizedKeys.length,
            rootPasswordSet: args.access.rootPasswordHash !== null,
            appliesAtNextBoot: false,
          };
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
        this.listeners.add(l);
        return () => this.listeners.delete(l);
      },
      openConsole: () => {
        throw new Error("unused");
      },
      close: () => undefined,
    } as unknown as AgentClient;
  }
}

const agent = new FakeAgent();

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

function readTask(id: string) {
  return t.db.task.findUniqueOrThrow({
    where: { id },
    include: { logs: { orderBy: { seq: "asc" } } },
  });
}

/** Polls the Task row (re-read every turn) until `ok` holds. */
async function until(id: string, ok: (row: Awaited<ReturnType<typeof readTask>>) => boolean) {
  let row = await readTask(id);
  for (let i = 0; i < 100 && !ok(row); i++) {
    await new Promise((r) => setTimeout(r, 30));
    row = await readTask(id);
  }
  expect(ok(row), `task ${id}: ${row.status} ${row.result}`).toBe(true);
  return row;
}

const detailOf = (row: { result: string | null }) => JSON.parse(row.result ?? "{}");
const messages = (row: { logs: { message: string }[] }) => row.logs.map((l) => l.message).join("\n");

async function audits(action: string) {
  return t.db.auditEvent.findMany({ where: { action }, orderBy: { createdAt: "asc" } });
}

beforeAll(async () => {
  t = await setupTestDb();
  setAgentForTests(agent.client());
  for (const [username, role] of [
    ["vm-admin", "admin"],
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
  admin = await callerOf("vm-admin");
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

beforeEach(() => {
  agent.calls = [];
});

afterAll(async () => {
  setAgentForTests(undefined);
  await t?.close();
});

describe("VM service: start, refuse, follow, settle", () => {
  it("a member starts their VM: the Task row follows the agent's steps and log, then ends with the words", async () => {
    const { taskId } = await requestPowerAction(alice, "alice-vm", "start");
    const call = agent.calls.find((c) => c.op === "vm.start");
    // The agent task is the row: the request id is the task id; the acting user is the owner.
    expect(call).toMatchObject({ id: taskId, args: { name: "alice-vm" }, actor: { basis: "owner" } });
    let row = await readTask(taskId);
    expect(row).toMatchObject({ kind: "start", status: "running", ownerId: alice.id, actorId: alice.id });
    expect(messages(row)).toContain("alice asked to start the VM.");

    agent.progress(taskId, { step: "booting", log: ["kernel loaded"] });
    row = await until(taskId, (r) => detailOf(r).step === "booting");
    expect(row.progress).toBe(50);
    expect(messages(row)).toContain("kernel loaded");

    agent.finish(taskId);
    row = await until(taskId, (r) => r.status === "succeeded");
    expect(row.progress).toBe(100);
    expect(row.endedAt).not.toBeNull();
    expect(detailOf(row).step).toBe("done");
    expect(row.logs.at(-1)?.message).toBe("The VM is up.");
    const audit = (await audits("vm.start")).at(-1);
    expect(audit).toMatchObject({ result: "success", actorId: alice.id });
    expect(JSON.parse(audit?.detail ?? "{}")).toMatchObject({ vm: "alice-vm", taskId });
  });

  it("check 33: one task per VM: a second action while one runs is refused before the agent is asked", async () => {
    const { taskId } = await requestPowerAction(alice, "alice-vm", "shutdown");
    const asked = agent.calls.length;
    const busy = await failure(requestPowerAction(alice, "alice-vm", "start"));
    expect(busy.code).toBe("conflict");
    expect(busy.message).toBe("A shutdown is in progress on this VM; wait for it to finish.");
    expect(agent.calls.length).toBe(asked);
    agent.finish(taskId);
    const row = await until(taskId, (r) => r.status === "succeeded");
    expect(row.logs.at(-1)?.message).toBe("The VM shut down cleanly.");
  });

  it("the agent refuses: the row ends failed (refused), the failure is audited and thrown in words", async () => {
    agent.refuse.set("vm.start", "invalid-state");
    const refused = await failure(requestPowerAction(alice, "alice-vm", "start"));
    expect(refused.code).toBe("conflict");
    expect(refused.message).toBe("The VM is already running.");
    const row = await t.db.task.findFirstOrThrow({
      where: { kind: "start", status: "failed" },
      include: { logs: true },
    });
    expect(row.error).toBe("The VM is already running.");
    expect(detailOf(row).step).toBe("refused");
    const audit = (await audits("vm.start")).at(-1);
    expect(audit?.result).toBe("failure");
    expect(JSON.parse(audit?.detail ?? "{}")).toMatchObject({ taskId: row.id, error: "conflict" });
  });

  it("a failed agent task ends the row failed with the agent's code in words (no host text)", async () => {
    const { taskId } = await requestPowerAction(alice, "alice-vm", "poweroff");
    agent.finish(taskId, {
      state: "failed",
      error: { code: "internal", message: "kill(4242) failed: /var/lib/zaphod/vms/alice-vm" },
    });
    const row = await until(taskId, (r) => r.status === "failed");
    expect(row.error).toBe("The host agent is unavailable or failed. Try again shortly.");
    expect(messages(row)).not.toContain("/var/lib");
  });
});

describe("VM service: the access rule", () => {
  it("check 2: a member acting on another member's VM gets not-found, like a missing VM; nothing is asked", async () => {
    for (const name of ["bob-vm", "no-such-vm"]) {
      const f = await failure(requestPowerAction(alice, name, "start"));
      expect(f.code).toBe("not-found");
      expect(f.message).toBe("No such VM.");
    }
    expect(agent.calls).toEqual([]);
    expect(await t.db.task.count({ where: { vm: { name: "bob-vm" } } })).toBe(0);
  });

  it("a member without the permission gets forbidden (provision, destroy); a suspended member too", async () => {
    const provision = {
      ownerId: alice.id,
      name: "alice-two",
      image: "img",
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      autostart: false,
      startNow: false,
    };
    expect((await failure(provisionVm(alice, provision))).code).toBe("forbidden");
    expect((await failure(destroyVm(alice, "alice-vm", "alice-vm"))).code).toBe("forbidden");
    const suspended = { ...alice, status: "suspended" as const };
    expect((await failure(requestPowerAction(suspended, "alice-vm", "start"))).code).toBe("forbidden");
    expect(agent.calls).toEqual([]);
  });

  it("the admin powers a member's VM through vm.power.any: audited as the admin, told to the agent as admin", async () => {
    const { taskId } = await requestPowerAction(admin, "bob-vm", "start");
    expect(agent.calls.find((c) => c.op === "vm.start")).toMatchObject({
      id: taskId,
      actor: { basis: "admin" },
    });
    const row = await readTask(taskId);
    // In the owner's history, acted by the admin.
    expect(row).toMatchObject({ ownerId: bob.id, actorId: admin.id });
    agent.finish(taskId);
    await until(taskId, (r) => r.status === "succeeded");
  });
});

describe("VM service: provisioning", () => {
  it("a new VM gets its owner's SSH keys after its disks are made and before it first starts", async () => {
    const key =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEqCEdcEYNMVT4NNzwpFaw7PcMFq3ja8WNXtlFDKGuz6 alice@laptop";
    await t.db.sshKey.create({
      data: {
        id: randomUUID(),
        userId: alice.id,
        label: "laptop",
        type: "ssh-ed25519",
        publicKey: key,
        fingerprint: "SHA256:x",
      },
    });
    const { taskId } = await provisionVm(admin, {
      ownerId: alice.id,
      name: "alice-new",
      image: "img",
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      autostart: false,
      startNow: true,
    });
    agent.finish(taskId);
    for (let i = 0; i < 100 && !agent.calls.some((c) => c.op === "vm.start"); i++)
      await new Promise((r) => setTimeout(r, 30));
    const ops = agent.calls.map((c) => c.op).filter((op) => op.startsWith("vm."));
    expect(ops.slice(ops.indexOf("vm.create"))).toEqual(["vm.create", "vm.setAccess", "vm.start"]);
    expect(agent.calls.find((c) => c.op === "vm.setAccess")?.args).toEqual({
      name: "alice-new",
      access: { sshAuthorizedKeys: [key], rootPasswordHash: null },
    });
    const start = agent.calls.find((c) => c.op === "vm.start");
    agent.finish(start?.id ?? "");
    await until(taskId, (r) => r.status === "succeeded");
    // The agent has no network: no address asked for, none kept.
    expect(agent.calls.find((c) => c.op === "vm.create")?.args).not.toHaveProperty("ipv4");
    expect((await t.db.vm.findUnique({ where: { name: "alice-new" } }))?.ip).toBeNull();
  });

  it("with a host network, a new VM gets the pool's lowest free address (the agent's VMs and the panel's rows both hold theirs); a full pool is refused", async () => {
    agent.network = {
      settings: {
        mode: "isolated",
        ipv4Subnet: "10.77.0.0/29",
        gateway: "10.77.0.1",
        poolFirst: "10.77.0.2",
        poolLast: "10.77.0.5",
        ipv6Prefix: null,
        dns: [],
        vmToVm: true,
        outboundSmtp: false,
      },
      netns: "zt-net",
      bridge: "zbr0",
      forwardAddress: "127.0.0.1",
      forwardMode: "relay",
      forwards: [],
      // .2 is held by a VM the agent knows; .3 by a row of the panel's (provisioning, say).
      vms: [{ name: "not-in-panel", ipv4: "10.77.0.2", mac: "fe:fd:0a:4d:00:02", liveIpv4: null }],
      poolSize: 4,
      poolUsed: 1,
    };
    await t.db.vm.update({ where: { name: "bob-vm" }, data: { ip: "10.77.0.3" } });
    const spec = {
      image: "img",
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      autostart: false,
      startNow: false,
    };
    try {
      const made: string[] = [];
      for (const name of ["net-one", "net-two"]) {
        const { taskId } = await provisionVm(admin, { ownerId: alice.id, name, ...spec });
        agent.finish(taskId);
        await until(taskId, (r) => r.status === "succeeded");
        const create = agent.calls.find((c) => c.op === "vm.create" && c.args.name === name);
        made.push(String(create?.args.ipv4));
        expect((await t.db.vm.findUnique({ where: { name } }))?.ip).toBe(create?.args.ipv4);
      }
      expect(made).toEqual(["10.77.0.4", "10.77.0.5"]);
      const full = await provisionVm(admin, { ownerId: alice.id, name: "net-three", ...spec }).catch(
        (e) => e,
      );
      expect(full).toBeInstanceOf(ActionFailure);
      expect((full as ActionFailure).message).toMatch(
        /Every address of the VM pool \(10\.77\.0\.2–10\.77\.0\.5\) is taken/,
      );
      expect(await t.db.vm.findUnique({ where: { name: "net-three" } })).toBeNull();
    } finally {
      agent.network = null;
      await t.db.vm.update({ where: { name: "bob-vm" }, data: { ip: null } });
    }
  });
});

describe("VM service: the reboot is the agent's task", () => {
  const stage = (s: Partial<RebootProgress>): RebootProgress => ({
    stage: "graceful",
    graceEndsAt: null,
    resetAt: null,
    hardResetBy: null,
    ...s,
  });

  it("grace and countdown come from the agent's task; the countdown's hard reset is the panel's, once", async () => {
    const { taskId } = await requestPowerAction(alice, "alice-vm", "reboot");
    const call = agent.calls.find((c) => c.op === "vm.reboot");
    // The configured grace and countdown go to the agent, which holds the timers.
    expect(call?.args).toEqual({ name: "alice-vm", graceSeconds: 90, countdownSeconds: 30 });
    expect(detailOf(await readTask(taskId)).graceEndsAt).toBeTruthy();

    const graceEndsAt = new Date(Date.now() + 90_000).toISOString();
    agent.progress(taskId, { step: "waiting for the guest to come back", reboot: stage({ graceEndsAt }) });
    await until(taskId, (r) => detailOf(r).graceEndsAt === graceEndsAt);

    const resetAt = new Date(Date.now() + 30_000).toISOString();
    agent.progress(taskId, {
      step: "not back: counting down to a hard reset",
      reboot: stage({ stage: "countdown", graceEndsAt, resetAt }),
    });
    let row = await until(taskId, (r) => detailOf(r).resetAt === resetAt);
    expect(detailOf(row).graceEndsAt).toBeNull();
    expect(row.progress).toBe(60);

    const hard = stage({ stage: "hard-reset", graceEndsAt, resetAt, hardResetBy: "countdown" });
    agent.progress(taskId, { step: "hard reset", reboot: hard });
    row = await until(taskId, (r) => detailOf(r).hardReset === true);
    expect(detailOf(row).resetAt).toBeNull();
    agent.progress(taskId, { step: "booting", reboot: hard });
    await until(taskId, (r) => detailOf(r).step === "booting");
    agent.finish(taskId, { reboot: hard });
    row = await until(taskId, (r) => r.status === "succeeded");
    expect(detailOf(row)).toMatchObject({ hardReset: true, resetAt: null, graceEndsAt: null });
    expect(messages(row).match(/Countdown over: hard reset/g)).toHaveLength(1);
    expect(row.logs.at(-1)?.message).toBe("The VM was hard-reset and is up again.");
    const system = (await audits("vm.reset")).filter((a) => a.actorLabel === "system");
    expect(system).toHaveLength(1);
    expect(JSON.parse(system[0]?.detail ?? "{}")).toMatchObject({ taskId, during: "reboot" });
  });

  it("Hard reset now during a reboot: a vm.reset to the agent, the same task goes on and ends", async () => {
    const { taskId } = await requestPowerAction(alice, "alice-vm", "reboot");
    const resetAt = new Date(Date.now() + 30_000).toISOString();
    agent.progress(taskId, { reboot: stage({ stage: "countdown", resetAt }) });
    await until(taskId, (r) => detailOf(r).resetAt === resetAt);
    const res = await requestPowerAction(alice, "alice-vm", "reset");
    expect(res.taskId).toBe(taskId);
    expect(agent.calls.filter((c) => c.op === "vm.reset")).toHaveLength(1);
    expect(await t.db.task.count({ where: { kind: "reset", status: "running" } })).toBe(0);
    let row = await until(taskId, (r) => detailOf(r).hardReset === true);
    expect(messages(row)).toContain("alice asked for a hard reset now.");
    const hard = stage({ stage: "hard-reset", resetAt, hardResetBy: "request" });
    agent.progress(taskId, { reboot: hard });
    agent.finish(taskId, { reboot: hard });
    row = await until(taskId, (r) => r.status === "succeeded");
    expect(messages(row)).not.toContain("Countdown over");
    const mine = (await audits("vm.reset")).filter((a) => a.actorId === alice.id);
    expect(mine).toHaveLength(1);
    expect(JSON.parse(mine[0]?.detail ?? "{}")).toMatchObject({ taskId, during: "reboot" });
  });
});

describe("the task pipeline: recovery after a web restart", () => {
  /** A Task row as a previous web process left it, its agent task in the fake agent's hands. */
  async function leftRunning(kind: string, vmName: string, detail: Record<string, unknown> = {}) {
    const vm = await t.db.vm.findUniqueOrThrow({ where: { name: vmName } });
    const id = randomUUID();
    await t.db.task.create({
      data: {
        id,
        vmId: vm.id,
        ownerId: vm.ownerId,
        actorId: vm.ownerId,
        kind,
        status: "running",
        progress: 60,
        result: JSON.stringify(detail),
        startedAt: new Date(),
      },
    });
    return id;
  }

  it("a running agent task is followed again (its countdown kept), an ended one settled, an unknown one interrupted", async () => {
    const resetAt = new Date(Date.now() + 20_000).toISOString();
    const countdown: RebootProgress = { stage: "countdown", graceEndsAt: null, resetAt, hardResetBy: null };
    const rebooting = await leftRunning("reboot", "alice-vm", {
      step: "not back: counting down to a hard reset",
      resetAt,
      data: { graceSeconds: 90, countdownSeconds: 30 },
    });
    agent.begin(rebooting, "vm.reboot", "alice-vm", { reboot: countdown, step: "counting down" });
    const ended = await leftRunning("shutdown", "bob-vm");
    agent.begin(ended, "vm.shutdown", "bob-vm");
    agent.tasks.set(ended, { ...(agent.tasks.get(ended) as TaskInfo), state: "succeeded", step: "done" });
    const lost = await leftRunning("start", "bob-vm");

    await recoverTasks();

    const settled = await readTask(ended);
    expect(settled.status).toBe("succeeded");
    expect(settled.logs.at(-1)?.message).toBe("The VM shut down cleanly.");
    const gone = await readTask(lost);
    expect(gone.status).toBe("interrupted");
    expect(gone.error).toMatch(/host agent does not know this task/);
    // The reboot still counts down to the same moment, then ends as the agent says.
    let row = await readTask(rebooting);
    expect(row.status).toBe("running");
    expect(detailOf(row).resetAt).toBe(resetAt);
    const hard: RebootProgress = { ...countdown, stage: "hard-reset", hardResetBy: "countdown" };
    agent.progress(rebooting, { reboot: hard, step: "hard reset" });
    await until(rebooting, (r) => detailOf(r).hardReset === true);
    agent.finish(rebooting, { reboot: hard });
    row = await until(rebooting, (r) => r.status === "succeeded");
    expect(row.logs.at(-1)?.message).toBe("The VM was hard-reset and is up again.");
    expect(messages(row)).toContain("Countdown over: hard reset");
  });

  it("a snapshot left running is settled by its kind's entry: the snapshot row becomes ready", async () => {
    const vm = await t.db.vm.findUniqueOrThrow({ where: { name: "bob-vm" } });
    const snapshotId = randomUUID();
    const id = await leftRunning("snapshot", "bob-vm", { data: { snapshotId } });
    await t.db.snapshot.create({
      data: { id: snapshotId, vmId: vm.id, label: "left", status: "running", kind: "manual", taskId: id },
    });
    agent.begin(id, "snapshot.create", "bob-vm", { log: ["guest paused 0.20 s"] });
    await recoverTasks();
    agent.finish(id, {
      snapshot: {
        id: snapshotId,
        vm: "bob-vm",
        createdAt: new Date().toISOString(),
        kind: "manual",
        includesStorage: false,
        live: true,
        pauseMs: 200,
        image: { name: "img", mtimeMs: 1, sizeBytes: 1 },
        files: [{ disk: "root", apparentBytes: 2 ** 30, allocatedBytes: 3 * 2 ** 20 }],
        apparentBytes: 2 ** 30,
        allocatedBytes: 3 * 2 ** 20,
      },
    });
    const row = await until(id, (r) => r.status === "succeeded");
    expect(row.logs.at(-1)?.message).toBe("Snapshot ready: 3.0 MiB on disk, guest paused 0.20 s.");
    expect(messages(row)).toContain("guest paused 0.20 s");
    const snap = await t.db.snapshot.findUniqueOrThrow({ where: { id: snapshotId } });
    expect(snap).toMatchObject({ status: "ready", sizeBytes: BigInt(3 * 2 ** 20) });
  });

  it("a row followed by two web processes ends once", async () => {
    const id = await leftRunning("start", "bob-vm");
    agent.begin(id, "vm.start", "bob-vm");
    await recoverTasks();
    await recoverTasks();
    agent.finish(id);
    const row = await until(id, (r) => r.status === "succeeded");
    await new Promise((r) => setTimeout(r, 200));
    const again = await readTask(id);
    expect(again.logs.filter((l) => l.message === "The VM is up.")).toHaveLength(1);
    expect(again.endedAt?.getTime()).toBe(row.endedAt?.getTime());
  });

  it("a scan for tasks to adopt while the agent is still accepting a start leaves the task to its starter", async () => {
    // On PostgreSQL every heartbeat scans for tasks to adopt; a busy agent can take 300 ms to accept.
    let release!: () => void;
    agent.hold.set("vm.start", new Promise<void>((resolve) => (release = resolve)));
    const started = requestPowerAction(alice, "alice-vm", "start");
    for (let i = 0; i < 100 && !agent.calls.some((c) => c.op === "vm.start"); i++)
      await new Promise((r) => setTimeout(r, 10));
    const taskId = agent.calls.find((c) => c.op === "vm.start")?.id as string;
    expect((await readTask(taskId)).status).toBe("running");
    await recoverTasks(); // the row is ours and the agent does not know the task yet
    release();
    expect((await started).taskId).toBe(taskId);
    expect((await readTask(taskId)).status).toBe("running");
    agent.finish(taskId);
    const row = await until(taskId, (r) => r.status === "succeeded");
    expect(row.logs.at(-1)?.message).toBe("The VM is up.");
  });
});

describe("the task pipeline: a new kind is one entry", () => {
  it("a test-only kind is started, followed and settled by the same code, with its own hook", async () => {
    const settled: string[] = [];
    const rename: TaskKindSpec = {
      op: "vm.setOwner",
      firstStep: "renaming (test)",
      waitMs: () => 10_000,
      progressOf: (task) => (task.step === "halfway" ? 50 : 10),
      settle: async (ref, task) => {
        settled.push(`${ref.data.label}:${task.state}`);
      },
      successText: (ref) => `Renamed to ${String(ref.data.label)}.`,
    };
    const vm = await t.db.vm.findUniqueOrThrow({ where: { name: "bob-vm" } });
    const { taskId, done } = await startTask({
      kind: "rename-test",
      spec: rename,
      vm: { id: vm.id, name: vm.name, ownerId: vm.ownerId },
      actor: { id: admin.id, username: admin.username },
      args: { name: vm.name, owner: "bob" },
      audit: null,
      data: { label: "bobby" },
    });
    expect(detailOf(await readTask(taskId)).step).toBe("renaming (test)");
    agent.progress(taskId, { step: "halfway" });
    await until(taskId, (r) => r.progress === 50);
    agent.finish(taskId);
    const task = await done;
    expect(task.state).toBe("succeeded");
    expect(settled).toEqual(["bobby:succeeded"]);
    const row = await readTask(taskId);
    expect(row).toMatchObject({ kind: "rename-test", status: "succeeded" });
    expect(row.logs.at(-1)?.message).toBe("Renamed to bobby.");
  });
});
