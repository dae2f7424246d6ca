/**
 * The reboot's stages with the host work stubbed (mconsole, the console log switch): the real VM
 * runs of the same paths are in agent.itest.ts; here each ending is quick and exact.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { AgentEvent, TaskInfo } from "../protocol/agent";
import { EventBus } from "./event-bus";
import { Reboots } from "./reboot";
import { TaskRunner } from "./tasks";
import type { Runtime, VmManager } from "./vm-manager";

vi.mock("./mconsole", () => ({ mconsole: vi.fn(async () => "") }));
vi.mock("./tmux", () => ({ switchConsoleLog: vi.fn(async () => undefined) }));
vi.mock("./boot-log", () => ({ nextBootLog: vi.fn(async () => ({ n: 2, file: "/nonexistent" })) }));

let root: string;
/** The VM's directory (<vmsDir>/alice), where the marker lives. */
let dir: string;
let events: EventBus;
let seen: TaskInfo[];
/** Which boots are back (the Ctrl-Alt-Del's is boot 2 in the stub, the reset's boot 3). */
let back: Set<number>;
let resets: number;
let holds: number;

function fakeManager(): VmManager {
  const runtime = { config: { name: "alice" }, paths: { dir } } as unknown as Runtime;
  const tasks = new TaskRunner(
    events,
    () => undefined,
    async () => undefined,
  );
  const vms = {
    config: { vmsDir: root },
    events,
    tasks,
    holdConsoleInput: () => {
      holds++;
    },
    listNames: async () => ["alice"],
    status: async () => ({ name: "alice", stage: "up" }),
    space: { release: async () => undefined },
    lifecycle: {
      running: async (name: string, op: "vm.reboot") => ({ runtime, unlock: tasks.lock(name, op) }),
      watchBoot: (_runtime: Runtime, bootN: number) => ({ reached: async () => back.has(bootN) }),
      resetHeld: async () => {
        resets++;
        return 3;
      },
    },
  };
  return vms as unknown as VmManager;
}

function settled(id: string): Promise<TaskInfo> {
  return new Promise((resolve) => {
    const off = events.subscribe((event) => {
      if (event.type === "task.done" && event.task.id === id) {
        off();
        resolve(event.task);
      }
    });
  });
}

async function reached(id: string, stage: string): Promise<void> {
  while (!seen.some((t) => t.id === id && t.reboot?.stage === stage))
    await new Promise((r) => setTimeout(r, 20));
}

const bob = { userId: "u-bob", username: "bob", basis: "admin" } as const;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "zaphod-reboot-"));
  dir = join(root, "alice");
  await mkdir(dir);
  events = new EventBus();
  seen = [];
  events.subscribe((event: AgentEvent) => {
    if (event.type === "task.progress" || event.type === "task.done") seen.push(event.task);
  });
  back = new Set();
  resets = 0;
  holds = 0;
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("reboot task", () => {
  it("back within the grace: succeeds in the graceful stage, no hard reset, marker gone", async () => {
    const reboots = new Reboots(fakeManager(), () => undefined);
    back.add(2);
    const done = settled("r-1");
    await reboots.start("r-1", { name: "alice", graceSeconds: 60, countdownSeconds: 30 });
    const task = await done;
    expect(task.state).toBe("succeeded");
    expect(task.reboot).toMatchObject({ stage: "graceful", resetAt: null, hardResetBy: null });
    expect(resets).toBe(0);
    await expect(readFile(join(dir, "reboot.json"))).rejects.toThrow();
  });

  it("never back: graceful, countdown, hard reset by the countdown (input held), up", async () => {
    const reboots = new Reboots(fakeManager(), () => undefined);
    back.add(3);
    const done = settled("r-2");
    await reboots.start("r-2", { name: "alice", graceSeconds: 1, countdownSeconds: 1 });
    const task = await done;
    expect(task.state).toBe("succeeded");
    expect([...new Set(seen.map((t) => t.reboot?.stage).filter(Boolean))]).toEqual([
      "graceful",
      "countdown",
      "hard-reset",
    ]);
    expect(task.reboot?.hardResetBy).toBe("countdown");
    expect(resets).toBe(1);
    expect(holds).toBe(1);
    expect(task.log).toEqual([
      "Ctrl-Alt-Del sent: waiting up to 1 s for the guest to come back",
      "not back after 1 s: hard reset in 1 s unless it comes up",
      "countdown over: hard reset",
      "up again after the hard reset",
    ]);
  });

  it("a second reboot is a conflict; a vm.reset during the countdown is its hard reset now", async () => {
    const reboots = new Reboots(fakeManager(), () => undefined);
    back.add(3);
    const done = settled("r-3");
    await reboots.start("r-3", { name: "alice", graceSeconds: 1, countdownSeconds: 600 });
    await expect(
      reboots.start("r-4", { name: "alice", graceSeconds: 1, countdownSeconds: 1 }),
    ).rejects.toMatchObject({ code: "conflict" });
    await reached("r-3", "countdown");
    expect(reboots.hurry("alice", bob)?.id).toBe("r-3");
    const task = await done;
    expect(task.state).toBe("succeeded");
    expect(task.reboot).toMatchObject({ stage: "hard-reset", hardResetBy: "request" });
    expect(task.log).toContain("hard reset asked for by bob");
    expect(holds).toBe(0); // the vm.reset itself held the input when it was asked
    expect(reboots.hurry("alice", bob)).toBeNull(); // nothing runs any more: a plain reset
  });

  it("a power off during the reboot ends it: failed, saying who", async () => {
    const reboots = new Reboots(fakeManager(), () => undefined);
    const done = settled("r-5");
    await reboots.start("r-5", { name: "alice", graceSeconds: 600, countdownSeconds: 600 });
    await reached("r-5", "graceful");
    reboots.end("alice", "a power off asked for by bob");
    const task = await done;
    expect(task.state).toBe("failed");
    expect(task.error).toEqual({
      code: "invalid-state",
      message: "the reboot ended: a power off asked for by bob",
    });
    expect(resets).toBe(0);
  });

  it("agent stop: nothing more happens, the marker stays, the next agent reports the task interrupted", async () => {
    const manager = fakeManager();
    const reboots = new Reboots(manager, () => undefined);
    await reboots.start("r-6", { name: "alice", graceSeconds: 1, countdownSeconds: 600 });
    await reached("r-6", "countdown");
    reboots.stopAll();
    await new Promise((r) => setTimeout(r, 300));
    expect(seen.filter((t) => t.state !== "running")).toEqual([]);
    expect(resets).toBe(0);
    const marker = JSON.parse(await readFile(join(dir, "reboot.json"), "utf8"));
    expect(marker).toMatchObject({ taskId: "r-6", reboot: { stage: "countdown" } });
    // The restarted agent.
    const next = fakeManager();
    await new Reboots(next, () => undefined).recover();
    expect(next.tasks.getTask("r-6")).toMatchObject({
      op: "vm.reboot",
      state: "interrupted",
      reboot: { stage: "countdown", hardResetBy: null },
      error: { code: "internal", message: "the agent stopped while this task ran" },
    });
    await expect(readFile(join(dir, "reboot.json"))).rejects.toThrow();
    // Kept for task.get across further restarts.
    const again = fakeManager();
    await new Reboots(again, () => undefined).recover();
    expect(again.tasks.getTask("r-6").state).toBe("interrupted");
  });
});
