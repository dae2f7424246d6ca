import "server-only";
/**
 * Every kind of long work, one entry each (see ./task-kind.ts for what an entry says). The
 * pipeline (./pipeline.ts) does the rest the same way for all of them: start, refuse, follow,
 * settle, recover. A `Record<TaskKind, …>`: a kind added to TASK_KINDS without an entry does not
 * compile.
 */
import { REBOOT_DEFAULTS, type TaskInfo } from "../../protocol/agent";
import { unsafeDeleteSnapshotRow, unsafeSetSnapshotStatus, unsafeSettleSnapshotRow } from "../dal/snapshots";
import type { TaskDetail, TaskKind } from "../dal/tasks";
import { getDb } from "../db/client";
import { formatBytes } from "../snapshots/policy";
import { unsafePushVmAccess } from "../vms/guest-access";
import { getHub } from "../vms/hub";
import { auditVm, logTask } from "./records";
import type { TaskKindSpec, TaskRef } from "./task-kind";

/** How long the panel follows one agent task of a VM's lifecycle before it gives up on it. */
const VM_TASK_WAIT_MS = 240_000;
/** Snapshot copies of large disks take longer. */
const SNAPSHOT_TASK_WAIT_MS = 15 * 60_000;

/** Rough progress per agent step, so the bar moves as the host reports. */
const STEP_PROGRESS: Record<string, number> = {
  "host user": 10,
  disks: 30,
  starting: 20,
  booting: 50,
  "ctrl-alt-del": 15,
  rebooting: 40,
  sync: 20,
  reset: 35,
  "terminating processes": 30,
  "sync and remount read-only": 60,
  halt: 80,
  "marking it destroyed": 5,
  "ending its processes": 10,
  "removing snapshots": 20,
  "keeping snapshots": 20,
  "removing disks": 60,
  "removing the VM": 90,
  "checking the disk": 10,
  "growing the disk file": 30,
  "checking the filesystem": 50,
  "growing the filesystem": 80,
  "copying disks": 40,
  "removing the old owner's files": 85,
};

const byStep = (task: TaskInfo) => STEP_PROGRESS[task.step] ?? 50;
/** Snapshot copies report a percentage of their own. */
const byAgent = (task: TaskInfo) => Math.min(95, task.progress ?? 10);
const vmWait = () => VM_TASK_WAIT_MS;
const snapshotWait = () => SNAPSHOT_TASK_WAIT_MS;

const text = (ref: TaskRef, key: string): string => String(ref.data[key] ?? "");
const numberOf = (ref: TaskRef, key: string, fallback: number): number => {
  const v = ref.data[key];
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
};

/** A simple VM verb: one agent task, one success text. */
function vmVerb(op: TaskKindSpec["op"], firstStep: string, success: string): TaskKindSpec {
  return { op, firstStep, waitMs: vmWait, progressOf: byStep, successText: () => success };
}

/* ── reboot: the agent holds grace, countdown and hard reset; the row mirrors its stages ──────── */

function rebootDetail(task: TaskInfo): TaskDetail {
  const r = task.reboot;
  if (!r) return {};
  return {
    graceEndsAt: r.stage === "graceful" ? r.graceEndsAt : null,
    resetAt: r.stage === "countdown" ? r.resetAt : null,
    ...(r.stage === "hard-reset" ? { hardReset: true } : {}),
  };
}

/**
 * The agent's own log lines say each stage; the countdown's hard reset is also the panel's act in
 * the VM's history (audited as the system, once: the row's detail remembers it across restarts).
 * A hard reset someone asked for was logged and audited as they asked (the VM service).
 */
async function rebootStageChanged(ref: TaskRef, task: TaskInfo, before: TaskDetail): Promise<void> {
  const r = task.reboot;
  if (!r || before.hardReset || r.stage !== "hard-reset" || r.hardResetBy !== "countdown") return;
  await logTask(ref, "Countdown over: hard reset (sync, then reset).", "warn");
  await auditVm("system", "vm.reset", ref.vm, "success", undefined, { taskId: ref.taskId, during: "reboot" });
}

const reboot: TaskKindSpec = {
  op: "vm.reboot",
  firstStep: "asking the guest to reboot (Ctrl-Alt-Del)",
  waitMs: (ref) =>
    (numberOf(ref, "graceSeconds", REBOOT_DEFAULTS.graceSeconds) +
      numberOf(ref, "countdownSeconds", REBOOT_DEFAULTS.countdownSeconds)) *
      1000 +
    VM_TASK_WAIT_MS,
  progressOf: (task) =>
    task.reboot?.stage === "countdown" ? 60 : task.reboot?.stage === "hard-reset" ? 75 : byStep(task),
  detailOf: rebootDetail,
  onUpdate: rebootStageChanged,
  endDetailOf: (task, before) =>
    task.reboot?.stage === "hard-reset" || before.hardReset ? { hardReset: true } : {},
  successText: (_ref, task, before) =>
    task.reboot?.stage === "hard-reset" || before.hardReset
      ? "The VM was hard-reset and is up again."
      : "The VM rebooted and is up again.",
};

/* ── snapshots: the rows follow the task ──────────────────────────────────────────────────────── */

function snapshotFailureText(_ref: TaskRef, task: TaskInfo): string {
  if (task.state === "interrupted")
    return "Interrupted: the host agent restarted during this task. Nothing partial was kept and the VM was resumed.";
  if (task.error?.code === "invalid-state" && task.op === "snapshot.restore")
    return "The snapshot was taken over another base image and cannot be restored.";
  return "The host could not finish this task.";
}

const snapshot: TaskKindSpec = {
  op: "snapshot.create",
  firstStep: "taking a live snapshot",
  waitMs: snapshotWait,
  progressOf: byAgent,
  onRefused: (ref) => unsafeSetSnapshotStatus(text(ref, "snapshotId"), "failed"),
  settle: (ref, task) =>
    unsafeSettleSnapshotRow(
      text(ref, "snapshotId"),
      task.state === "succeeded" ? (task.snapshot ?? null) : null,
    ),
  successText: (_ref, task) => {
    const info = task.snapshot;
    if (!info) return "Snapshot ready.";
    const pause = info.pauseMs !== null ? `, guest paused ${(info.pauseMs / 1000).toFixed(2)} s` : "";
    return `Snapshot ready: ${formatBytes(info.allocatedBytes)} on disk${pause}.`;
  },
  failureText: snapshotFailureText,
};

const restore: TaskKindSpec = {
  op: "snapshot.restore",
  firstStep: "restoring a snapshot",
  waitMs: snapshotWait,
  progressOf: byAgent,
  onRefused: async (ref) => {
    await unsafeDeleteSnapshotRow(text(ref, "safetyId"));
    await unsafeSetSnapshotStatus(text(ref, "snapshotId"), "ready");
  },
  settle: async (ref, task) => {
    await unsafeSetSnapshotStatus(text(ref, "snapshotId"), "ready").catch(() => undefined);
    const safetyId = text(ref, "safetyId");
    const safety = task.snapshot;
    if (safety && safety.id === safetyId) await unsafeSettleSnapshotRow(safetyId, safety);
    else await unsafeDeleteSnapshotRow(safetyId);
  },
  successText: () => "Restored; the VM is back up.",
  failureText: snapshotFailureText,
};

/* ── the admin's verbs: the VM row follows the task ───────────────────────────────────────────── */

const removeVmRow = async (ref: TaskRef) => {
  await getDb()
    .vm.delete({ where: { id: ref.vm.id } })
    .catch(() => undefined);
  getHub().forgetOwner(ref.vm.name);
};

export const TASK_KIND_SPECS: Readonly<Record<TaskKind, TaskKindSpec>> = {
  start: vmVerb("vm.start", "starting", "The VM is up."),
  reboot,
  reset: vmVerb("vm.reset", "hard reset", "The VM was hard-reset and is up again."),
  shutdown: vmVerb("vm.shutdown", "shutting down", "The VM shut down cleanly."),
  poweroff: vmVerb("vm.poweroff", "forcing off", "The VM was forced off."),
  provision: {
    op: "vm.create",
    firstStep: "creating disks and host user",
    waitMs: vmWait,
    progressOf: byStep,
    // Before its first boot: the owner's SSH keys, so the member can log in over the network at once.
    afterFirst: (ref) => unsafePushVmAccess(ref.vm.name),
    next: (ref) =>
      ref.data.startNow === true
        ? {
            op: "vm.start",
            args: { name: ref.vm.name },
            step: "starting",
            progress: 50,
            logText: "Disks ready; starting the VM.",
            audit: { action: "vm.start", during: "provision" },
          }
        : null,
    afterEnd: async (ref, task) => {
      if (task.op === "vm.create" && task.state !== "succeeded") await removeVmRow(ref);
    },
    successText: (_ref, task) =>
      task.op === "vm.start" ? "The VM is provisioned and up." : "The VM is provisioned (stopped).",
  },
  destroy: {
    op: "vm.destroy",
    firstStep: "marking it destroyed",
    waitMs: vmWait,
    progressOf: byStep,
    afterEnd: async (ref, task) => {
      if (task.state === "succeeded") await removeVmRow(ref);
    },
    successText: (ref) =>
      ref.data.keepSnapshots === true
        ? `${ref.vm.name} was destroyed; its snapshots are kept on the host.`
        : `${ref.vm.name} was destroyed with its snapshots.`,
  },
  "grow-storage": {
    op: "vm.growStorage",
    firstStep: "growing storage",
    waitMs: vmWait,
    progressOf: byStep,
    settle: async (ref, task) => {
      if (task.state === "succeeded")
        await getDb().vm.update({ where: { id: ref.vm.id }, data: { storageGiB: numberOf(ref, "to", 0) } });
    },
    successText: (ref) => `Storage grown from ${text(ref, "from")} GiB to ${text(ref, "to")} GiB.`,
  },
  "change-owner": {
    op: "vm.setOwner",
    firstStep: "moving the VM's files to the new owner",
    waitMs: vmWait,
    progressOf: byStep,
    settle: async (ref, task) => {
      if (task.state !== "succeeded") return;
      await getDb().vm.update({ where: { id: ref.vm.id }, data: { ownerId: text(ref, "toId") } });
      getHub().forgetOwner(ref.vm.name);
    },
    successText: (ref) => `${ref.vm.name} now belongs to ${text(ref, "to")}.`,
  },
  snapshot,
  restore,
};

export function specOfKind(kind: string): TaskKindSpec | null {
  return Object.hasOwn(TASK_KIND_SPECS, kind) ? TASK_KIND_SPECS[kind as TaskKind] : null;
}
