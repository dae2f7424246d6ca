import { describe, expect, it } from "vitest";
import type { RebootProgress, TaskInfo } from "../../protocol/agent";
import { TASK_KINDS } from "../dal/tasks";
import { specOfKind, TASK_KIND_SPECS } from "./kinds";
import type { TaskRef } from "./task-kind";

const task = (patch: Partial<TaskInfo>): TaskInfo => ({
  id: "t1",
  op: "vm.reboot",
  vm: "alice-vm",
  state: "running",
  step: "",
  startedAt: "2026-01-01T00:00:00.000Z",
  endedAt: null,
  error: null,
  result: null,
  ...patch,
});
const reboot = (patch: Partial<RebootProgress>): RebootProgress => ({
  stage: "graceful",
  graceEndsAt: "2026-01-01T00:01:30.000Z",
  resetAt: null,
  hardResetBy: null,
  ...patch,
});
const ref: TaskRef = {
  taskId: "t1",
  vm: { id: "v1", name: "alice-vm", ownerId: "u1" },
  ownerId: "u1",
  data: { graceSeconds: 10, countdownSeconds: 20, from: 1, to: 3 },
};

describe("task kinds", () => {
  it("every task kind has its entry, snapshot and restore included; an unknown kind has none", () => {
    expect(Object.keys(TASK_KIND_SPECS).sort()).toEqual([...TASK_KINDS].sort());
    expect(TASK_KINDS).toContain("snapshot");
    expect(TASK_KINDS).toContain("restore");
    expect(specOfKind("toString")).toBeNull();
    expect(specOfKind("reboot")?.op).toBe("vm.reboot");
  });

  it("the reboot's page detail is the agent's stage: grace, then countdown, then hard reset", () => {
    const spec = TASK_KIND_SPECS.reboot;
    expect(spec.detailOf?.(task({ reboot: reboot({}) }))).toEqual({
      graceEndsAt: "2026-01-01T00:01:30.000Z",
      resetAt: null,
    });
    expect(
      spec.detailOf?.(task({ reboot: reboot({ stage: "countdown", resetAt: "2026-01-01T00:02:00.000Z" }) })),
    ).toEqual({ graceEndsAt: null, resetAt: "2026-01-01T00:02:00.000Z" });
    expect(
      spec.detailOf?.(task({ reboot: reboot({ stage: "hard-reset", hardResetBy: "countdown" }) })),
    ).toEqual({ graceEndsAt: null, resetAt: null, hardReset: true });
    // An agent that reports no stage leaves the detail as it is.
    expect(spec.detailOf?.(task({}))).toEqual({});
  });

  it("the reboot follows grace + countdown + the boot, and says how it ended", () => {
    const spec = TASK_KIND_SPECS.reboot;
    expect(spec.waitMs(ref)).toBe(30_000 + 240_000);
    const hard = task({
      state: "succeeded",
      reboot: reboot({ stage: "hard-reset", hardResetBy: "request" }),
    });
    expect(spec.successText(ref, hard, {})).toBe("The VM was hard-reset and is up again.");
    expect(spec.endDetailOf?.(hard, {})).toEqual({ hardReset: true });
    const graceful = task({ state: "succeeded", reboot: reboot({}) });
    expect(spec.successText(ref, graceful, {})).toBe("The VM rebooted and is up again.");
    expect(spec.progressOf(task({ reboot: reboot({ stage: "countdown" }) }))).toBe(60);
  });

  it("provisioning goes on with a start only when asked to, and says which", () => {
    const spec = TASK_KIND_SPECS.provision;
    const created = task({ op: "vm.create", state: "succeeded" });
    expect(spec.next?.({ ...ref, data: { startNow: false } }, created)).toBeNull();
    expect(spec.next?.({ ...ref, data: { startNow: true } }, created)).toMatchObject({
      op: "vm.start",
      args: { name: "alice-vm" },
      audit: { action: "vm.start", during: "provision" },
    });
    expect(spec.successText(ref, created, {})).toBe("The VM is provisioned (stopped).");
    expect(spec.successText(ref, task({ op: "vm.start", state: "succeeded" }), {})).toBe(
      "The VM is provisioned and up.",
    );
  });

  it("snapshot failures are told without host text", () => {
    const spec = TASK_KIND_SPECS.restore;
    const failed = task({
      op: "snapshot.restore",
      state: "failed",
      error: { code: "invalid-state", message: "/var/lib/zaphod/images/x.ext4 changed" },
    });
    expect(spec.failureText?.(ref, failed)).toBe(
      "The snapshot was taken over another base image and cannot be restored.",
    );
    expect(spec.failureText?.(ref, { ...failed, state: "interrupted" })).toMatch(/^Interrupted: /);
    expect(TASK_KIND_SPECS["grow-storage"].successText(ref, failed, {})).toBe(
      "Storage grown from 1 GiB to 3 GiB.",
    );
  });
});
