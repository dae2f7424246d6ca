import { describe, expect, it } from "vitest";
import type { TaskView } from "@/server/web/dal/tasks";
import type { VmLive } from "@/server/web/vms/views";
import { applyVmEvent, applyVmsEvent, currentTask, type VmView } from "./vm-view";

const live = (over: Partial<VmLive> = {}): VmLive => ({
  name: "web",
  state: "running",
  stage: "up",
  stageDetail: null,
  busy: null,
  uptimeSeconds: 10,
  memTotalKiB: 40_000,
  memAvailableKiB: 26_000,
  bootId: "1",
  pausedForSpace: null,
  at: "2026-12-01T10:00:00.000Z",
  ...over,
});

const task = (over: Partial<TaskView> = {}): TaskView => ({
  id: "t1",
  vmName: "web",
  kind: "reboot",
  status: "running",
  progress: 40,
  step: "rebooting",
  resetAt: null,
  graceEndsAt: "2026-12-01T10:01:00.000Z",
  hardReset: false,
  error: null,
  actor: "alice",
  createdAt: "2026-12-01T10:00:00.000Z",
  endedAt: null,
  logs: [],
  ...over,
});

describe("applyVmEvent", () => {
  // The page was rendered during a reboot; the stream was held back while the reboot ended
  // (no task event reached the page). The first message of the stream, the snapshot, ends it.
  it("a snapshot ends a task whose end the page missed, so the buttons come back", () => {
    const stuck: VmView = { live: live({ stage: "booting" }), tasks: [task()] };
    expect(currentTask(stuck.tasks)?.kind).toBe("reboot");
    const after = applyVmEvent(stuck, {
      type: "snapshot",
      snapshot: {
        vm: live({ at: "2026-12-01T10:00:30.000Z", uptimeSeconds: 3, bootId: "2" }),
        tasks: [task({ status: "succeeded", progress: 100, step: "done" })],
      },
    });
    expect(currentTask(after.tasks)).toBeNull();
    expect(after.tasks[0]?.status).toBe("succeeded");
    expect(after.live.stage).toBe("up");
    expect(after.live.uptimeSeconds).toBe(3);
  });

  it("a snapshot brings tasks started while the stream was away, newest first", () => {
    const view: VmView = { live: live(), tasks: [task({ status: "succeeded" })] };
    const after = applyVmEvent(view, {
      type: "snapshot",
      snapshot: {
        vm: live(),
        tasks: [
          task({ id: "t2", kind: "shutdown", createdAt: "2026-12-01T10:05:00.000Z" }),
          task({ status: "succeeded" }),
        ],
      },
    });
    expect(after.tasks.map((t) => t.id)).toEqual(["t2", "t1"]);
    expect(currentTask(after.tasks)?.kind).toBe("shutdown");
  });

  it("a late running copy of an ended task does not reopen it", () => {
    const ended: VmView = { live: live(), tasks: [task({ status: "succeeded", progress: 100 })] };
    const after = applyVmEvent(ended, { type: "task", task: task({ status: "running", progress: 50 }) });
    expect(after.tasks[0]?.status).toBe("succeeded");
  });

  it("task events upsert and keep the newest first, at most 20", () => {
    let view: VmView = { live: live(), tasks: [] };
    for (let i = 0; i < 25; i++)
      view = applyVmEvent(view, {
        type: "task",
        task: task({
          id: `t${i}`,
          status: "succeeded",
          createdAt: `2026-12-01T10:${String(i).padStart(2, "0")}:00.000Z`,
        }),
      });
    expect(view.tasks).toHaveLength(20);
    expect(view.tasks[0]?.id).toBe("t24");
    view = applyVmEvent(view, {
      type: "task",
      task: task({ id: "t24", status: "failed", createdAt: "2026-12-01T10:24:00.000Z" }),
    });
    expect(view.tasks.filter((t) => t.id === "t24")).toHaveLength(1);
    expect(view.tasks[0]?.status).toBe("failed");
  });

  it("an older VM reading does not replace a newer one; another VM's is ignored", () => {
    const view: VmView = { live: live({ at: "2026-12-01T10:00:10.000Z", stage: "up" }), tasks: [] };
    expect(
      applyVmEvent(view, { type: "vm", vm: live({ at: "2026-12-01T10:00:05.000Z", stage: "booting" }) }).live
        .stage,
    ).toBe("up");
    expect(
      applyVmEvent(view, { type: "vm", vm: live({ name: "other", at: "2026-12-01T10:01:00.000Z" }) }),
    ).toBe(view);
    expect(
      applyVmEvent(view, { type: "vm", vm: live({ at: "2026-12-01T10:00:20.000Z", state: "stopped" }) }).live
        .state,
    ).toBe("stopped");
  });
});

describe("applyVmsEvent", () => {
  it("a snapshot replaces the dashboard's VMs (a destroyed one goes), a vm event updates one", () => {
    const before = { web: live(), old: live({ name: "old" }) };
    const snap = applyVmsEvent(before, {
      type: "snapshot",
      snapshot: { vms: [live({ state: "stopped", at: "2026-12-01T10:02:00.000Z" })] },
    });
    expect(Object.keys(snap)).toEqual(["web"]);
    expect(snap.web?.state).toBe("stopped");
    const next = applyVmsEvent(snap, { type: "vm", vm: live({ at: "2026-12-01T10:03:00.000Z" }) });
    expect(next.web?.state).toBe("running");
  });
});
