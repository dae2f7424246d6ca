import "server-only";
/**
 * Snapshots for members and the admin. Every function takes the caller and looks the VM up with
 * the scoped getVmForCaller, then the snapshot by (id, that VM): someone else's snapshot is a
 * missing one (not-found). Each operation is a Task row (kind `snapshot`, `restore`) that follows
 * the agent's task: progress, log lines (the guest pause among them) and the end, pushed to the
 * browser through the VM event hub. Quotas and the approval policy are in ./policy.ts.
 */
import { randomUUID } from "node:crypto";
import type { TaskInfo, TaskOp } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Actor, Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { unsafeAppendTaskLog, unsafeRunningTaskOfVm, unsafeUpdateTask } from "../dal/tasks";
import { getVmForCaller, type VmRow } from "../dal/vms";
import { getDb } from "../db/client";
import type { AuditAction } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "../vms/agent-actor";
import { toActionFailure } from "../vms/agent-errors";
import { failRefusedTask, followAgentTask, publishTask } from "../vms/agent-tasks";
import { getHub } from "../vms/hub";
import {
  formatBytes,
  quotaRefusal,
  unsafeGetSnapshotDefaults,
  unsafeQuotaOf,
  unsafeSetSetting,
} from "./policy";

export type SnapshotView = {
  id: string;
  vmName: string;
  owner: string;
  label: string;
  kind: "manual" | "safety";
  status: string;
  includesStorage: boolean;
  /** Allocated bytes on the host's disk (0 until ready). */
  sizeBytes: number;
  createdAt: string;
  live: boolean | null;
  pauseMs: number | null;
  taskId: string | null;
};

const TASK_WAIT_MS = 15 * 60_000;

const snapshotSelect = {
  id: true,
  label: true,
  kind: true,
  status: true,
  includesStorage: true,
  sizeBytes: true,
  createdAt: true,
  manifest: true,
  taskId: true,
  vm: { select: { name: true, owner: { select: { username: true } } } },
} as const;

type Selected = {
  id: string;
  label: string;
  kind: string;
  status: string;
  includesStorage: boolean;
  sizeBytes: bigint;
  createdAt: Date;
  manifest: string;
  taskId: string | null;
  vm: { name: string; owner: { username: string } };
};

function toView(s: Selected): SnapshotView {
  let manifest: { live?: boolean; pauseMs?: number | null } = {};
  try {
    manifest = JSON.parse(s.manifest);
  } catch {}
  return {
    id: s.id,
    vmName: s.vm.name,
    owner: s.vm.owner.username,
    label: s.label,
    kind: s.kind === "safety" ? "safety" : "manual",
    status: s.status,
    includesStorage: s.includesStorage,
    sizeBytes: Number(s.sizeBytes),
    createdAt: s.createdAt.toISOString(),
    live: typeof manifest.live === "boolean" ? manifest.live : null,
    pauseMs: typeof manifest.pauseMs === "number" ? manifest.pauseMs : null,
    taskId: s.taskId,
  };
}

function actorOf(caller: Caller): Actor {
  return { id: caller.id, username: caller.username };
}

async function audit(
  caller: Caller,
  action: AuditAction,
  vm: Pick<VmRow, "id" | "ownerId" | "name">,
  result: "success" | "failure" | "denied",
  meta: RequestMeta | undefined,
  detail: Record<string, unknown>,
) {
  await recordAuditEvent({
    actor: actorOf(caller),
    action,
    result,
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, ...detail },
  });
}

async function createTask(vm: VmRow, actorId: string | null, kind: "snapshot" | "restore", step: string) {
  const id = randomUUID();
  const now = new Date();
  await getDb().task.create({
    data: {
      id,
      vmId: vm.id,
      ownerId: vm.ownerId,
      actorId,
      kind,
      status: "running",
      progress: 0,
      result: JSON.stringify({ step }),
      createdAt: now,
      startedAt: now,
    },
  });
  return id;
}

// ── reading ─────────────────────────────────────────────────────────────────────────────────

/** The snapshots of one VM the caller may see, newest first. */
export async function listSnapshotsForVm(caller: Caller, vmName: string): Promise<SnapshotView[]> {
  const vm = await getVmForCaller(caller, vmName);
  await ensureSnapshotService();
  const rows = await getDb().snapshot.findMany({
    where: { vmId: vm.id },
    select: snapshotSelect,
    orderBy: { createdAt: "desc" },
  });
  return rows.map(toView);
}

/** The VM owner's quota with usage (what the member sees on the VM page). */
export async function getQuotaForVm(caller: Caller, vmName: string) {
  const vm = await getVmForCaller(caller, vmName);
  const [quota, defaults] = await Promise.all([unsafeQuotaOf(vm.ownerId), unsafeGetSnapshotDefaults()]);
  return { ...quota, policy: defaults.policy };
}

async function snapshotOfVmOrThrow(vm: VmRow, id: string): Promise<SnapshotView> {
  const row = await getDb().snapshot.findFirst({ where: { id, vmId: vm.id }, select: snapshotSelect });
  if (!row) throw new ActionFailure("not-found", "No such snapshot.");
  return toView(row);
}

// ── take ────────────────────────────────────────────────────────────────────────────────────

export async function takeSnapshot(
  caller: Caller,
  input: { vmName: string; label: string; includeStorage: boolean },
  meta?: RequestMeta,
): Promise<{ snapshotId: string; taskId: string | null; status: string }> {
  const vm = await getVmForCaller(caller, input.vmName);
  assertPermission(caller, "vm.snapshot");
  await ensureSnapshotService();
  const quota = await unsafeQuotaOf(vm.ownerId);
  const estimate = await estimateBytes(vm.name, input.includeStorage);
  const refusal = quotaRefusal(quota, estimate);
  if (refusal) {
    await audit(caller, "snapshot.create", vm, "denied", meta, { reason: "quota", estimate });
    throw new ActionFailure("conflict", refusal);
  }
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running)
    throw new ActionFailure(
      "conflict",
      `A ${running.kind} is in progress on this VM; wait for it to finish.`,
    );
  const { policy } = await unsafeGetSnapshotDefaults();
  const id = randomUUID();
  const label = input.label.trim() || defaultLabel();
  await getDb().snapshot.create({
    data: {
      id,
      vmId: vm.id,
      label,
      includesStorage: input.includeStorage,
      status: policy === "approval" ? "requested" : "approved",
      kind: "manual",
    },
  });
  if (policy === "approval") {
    await audit(caller, "snapshot.request", vm, "success", meta, { snapshotId: id, label });
    return { snapshotId: id, taskId: null, status: "requested" };
  }
  const taskId = await startSnapshot(vm, id, caller);
  await audit(caller, "snapshot.create", vm, "success", meta, { snapshotId: id, label, taskId });
  return { snapshotId: id, taskId, status: "running" };
}

function defaultLabel(): string {
  return `Snapshot ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Roughly what a new snapshot takes: the allocated size of the disks it copies. */
async function estimateBytes(vmName: string, includeStorage: boolean): Promise<number> {
  const status = await getAgent()
    .call("vm.status", { name: vmName })
    .catch(() => null);
  if (!status) return 0;
  return status.disks
    .filter((d) => d.disk === "root" || (includeStorage && d.disk === "storage"))
    .reduce((n, d) => n + d.allocatedBytes, 0);
}

/** An approved snapshot row → running, with its Task, and the agent asked. */
async function startSnapshot(vm: VmRow, snapshotId: string, caller: Caller): Promise<string> {
  const actorId = caller.id;
  const row = await getDb().snapshot.findUniqueOrThrow({
    where: { id: snapshotId },
    select: { includesStorage: true },
  });
  const taskId = await createTask(vm, actorId, "snapshot", "taking a live snapshot");
  await getDb().snapshot.update({ where: { id: snapshotId }, data: { status: "running", taskId } });
  try {
    await getAgent().call(
      "snapshot.create",
      { name: vm.name, id: snapshotId, includeStorage: row.includesStorage },
      { id: taskId, actor: agentActor(caller, vm) },
    );
  } catch (error) {
    const failure = toActionFailure(error, "snapshot.create");
    await getDb().snapshot.update({ where: { id: snapshotId }, data: { status: "failed" } });
    await failRefusedTask(taskId, vm.ownerId, failure);
    throw failure;
  }
  await unsafeAppendTaskLog(
    taskId,
    `Snapshot requested${row.includesStorage ? " (root and storage disks)" : " (root disk)"}.`,
  );
  await publishTask(taskId, vm.ownerId);
  void follow(taskId, vm, "snapshot.create").then((task) => settleSnapshot(task, snapshotId, vm, taskId));
  return taskId;
}

// ── restore ─────────────────────────────────────────────────────────────────────────────────

export async function restoreSnapshot(
  caller: Caller,
  input: { vmName: string; snapshotId: string; confirm: string },
  meta?: RequestMeta,
): Promise<{ taskId: string; safetyId: string }> {
  const vm = await getVmForCaller(caller, input.vmName);
  assertPermission(caller, "vm.snapshot");
  await ensureSnapshotService();
  const snapshot = await snapshotOfVmOrThrow(vm, input.snapshotId);
  if (input.confirm !== snapshot.id)
    throw new ActionFailure("invalid", "Please confirm the restore.", { confirm: "Confirm the restore" });
  if (snapshot.status !== "ready")
    throw new ActionFailure("conflict", "Only a ready snapshot can be restored.");
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running)
    throw new ActionFailure(
      "conflict",
      `A ${running.kind} is in progress on this VM; wait for it to finish.`,
    );
  // Never refused by the quota: the safety snapshot may go over it (see ./policy.ts).
  const safetyId = randomUUID();
  const taskId = await createTask(vm, caller.id, "restore", "restoring a snapshot");
  await getDb().snapshot.create({
    data: {
      id: safetyId,
      vmId: vm.id,
      label: `Before restoring “${snapshot.label}”`.slice(0, 120),
      includesStorage: snapshot.includesStorage,
      status: "running",
      kind: "safety",
      taskId,
    },
  });
  await getDb().snapshot.update({ where: { id: snapshot.id }, data: { status: "restoring", taskId } });
  try {
    await getAgent().call(
      "snapshot.restore",
      { name: vm.name, id: snapshot.id, confirm: snapshot.id, safetyId },
      { id: taskId, actor: agentActor(caller, vm) },
    );
  } catch (error) {
    const failure = toActionFailure(error, "snapshot.restore");
    await getDb().snapshot.delete({ where: { id: safetyId } });
    await getDb().snapshot.update({ where: { id: snapshot.id }, data: { status: "ready" } });
    await failRefusedTask(taskId, vm.ownerId, failure);
    await audit(caller, "snapshot.restore", vm, "failure", meta, {
      snapshotId: snapshot.id,
      error: failure.code,
    });
    throw failure;
  }
  await audit(caller, "snapshot.restore", vm, "success", meta, { snapshotId: snapshot.id, safetyId, taskId });
  await unsafeAppendTaskLog(
    taskId,
    `${caller.username} restores “${snapshot.label}”: clean shut down, safety snapshot, files put back, start.`,
  );
  await publishTask(taskId, vm.ownerId);
  void follow(taskId, vm, "snapshot.restore").then((task) =>
    settleRestore(task, snapshot.id, safetyId, vm, taskId),
  );
  return { taskId, safetyId };
}

// ── delete ──────────────────────────────────────────────────────────────────────────────────

export async function deleteSnapshot(
  caller: Caller,
  input: { vmName: string; snapshotId: string },
  meta?: RequestMeta,
): Promise<void> {
  const vm = await getVmForCaller(caller, input.vmName);
  assertPermission(caller, "vm.snapshot");
  const snapshot = await snapshotOfVmOrThrow(vm, input.snapshotId);
  if (snapshot.status === "running" || snapshot.status === "restoring" || snapshot.status === "approved")
    throw new ActionFailure("conflict", "This snapshot is in use; wait for the task to finish.");
  if (snapshot.status === "ready") {
    try {
      await getAgent().call(
        "snapshot.delete",
        { name: vm.name, id: snapshot.id },
        { actor: agentActor(caller, vm) },
      );
    } catch (error) {
      const failure = toActionFailure(error, "snapshot.delete");
      // Already gone on the host: the row goes too.
      if (failure.code !== "not-found") {
        await audit(caller, "snapshot.delete", vm, "failure", meta, {
          snapshotId: snapshot.id,
          error: failure.code,
        });
        throw failure;
      }
    }
  }
  await getDb().snapshot.delete({ where: { id: snapshot.id } });
  await audit(caller, "snapshot.delete", vm, "success", meta, {
    snapshotId: snapshot.id,
    label: snapshot.label,
    sizeBytes: snapshot.sizeBytes,
  });
}

// ── admin ───────────────────────────────────────────────────────────────────────────────────

export async function listAllSnapshots(caller: Caller): Promise<SnapshotView[]> {
  assertPermission(caller, "vm.read.any");
  await ensureSnapshotService();
  const rows = await getDb().snapshot.findMany({
    select: snapshotSelect,
    orderBy: { createdAt: "desc" },
    take: 500,
  });
  return rows.map(toView);
}

async function requestedOrThrow(caller: Caller, snapshotId: string) {
  assertPermission(caller, "vm.provision");
  const row = await getDb().snapshot.findUnique({
    where: { id: snapshotId },
    select: { id: true, status: true, vm: { select: { name: true } } },
  });
  if (!row) throw new ActionFailure("not-found", "No such snapshot.");
  const vm = await getVmForCaller(caller, row.vm.name);
  if (row.status !== "requested")
    throw new ActionFailure("conflict", "This snapshot is not waiting for approval.");
  return { row, vm };
}

/** requested → approved → running. */
export async function approveSnapshot(caller: Caller, snapshotId: string, meta?: RequestMeta) {
  const { vm } = await requestedOrThrow(caller, snapshotId);
  await getDb().snapshot.update({ where: { id: snapshotId }, data: { status: "approved" } });
  await audit(caller, "snapshot.approve", vm, "success", meta, { snapshotId });
  const taskId = await startSnapshot(vm, snapshotId, caller);
  return { taskId };
}

export async function rejectSnapshot(caller: Caller, snapshotId: string, meta?: RequestMeta) {
  const { vm } = await requestedOrThrow(caller, snapshotId);
  await getDb().snapshot.update({ where: { id: snapshotId }, data: { status: "rejected" } });
  await audit(caller, "snapshot.reject", vm, "success", meta, { snapshotId });
}

/** The admin view: defaults, every member's limits and usage, host figures from the agent. */
export async function getSnapshotAdminView(caller: Caller) {
  assertPermission(caller, "vm.provision");
  const db = getDb();
  const [defaults, users, usage] = await Promise.all([
    unsafeGetSnapshotDefaults(),
    db.user.findMany({
      where: { status: "active" },
      select: { id: true, username: true, snapshotMaxCount: true, snapshotMaxBytes: true },
      orderBy: { username: "asc" },
    }),
    getAgent()
      .call("snapshot.usage", {})
      .catch(() => null),
  ]);
  const members = await Promise.all(
    users.map(async (u) => ({
      id: u.id,
      username: u.username,
      overrideCount: u.snapshotMaxCount,
      overrideBytes: u.snapshotMaxBytes != null ? Number(u.snapshotMaxBytes) : null,
      quota: await unsafeQuotaOf(u.id),
    })),
  );
  return { defaults, members, usage };
}

export async function setSnapshotDefaults(
  caller: Caller,
  input: { policy: "immediate" | "approval"; maxCount: number; maxBytes: number },
  meta?: RequestMeta,
) {
  assertPermission(caller, "vm.provision");
  await unsafeSetSetting("snapshot.policy", input.policy);
  await unsafeSetSetting("snapshot.maxCount", input.maxCount);
  await unsafeSetSetting("snapshot.maxBytes", input.maxBytes);
  await recordAuditEvent({
    actor: actorOf(caller),
    action: "snapshot.policy",
    result: "success",
    meta,
    detail: { ...input, maxBytesText: formatBytes(input.maxBytes) },
  });
}

export async function setMemberSnapshotQuota(
  caller: Caller,
  input: { userId: string; maxCount: number | null; maxBytes: number | null },
  meta?: RequestMeta,
) {
  assertPermission(caller, "vm.provision");
  const user = await getDb().user.findUnique({ where: { id: input.userId }, select: { id: true } });
  if (!user) throw new ActionFailure("not-found", "No such account.");
  await getDb().user.update({
    where: { id: input.userId },
    data: {
      snapshotMaxCount: input.maxCount,
      snapshotMaxBytes: input.maxBytes === null ? null : BigInt(input.maxBytes),
    },
  });
  await recordAuditEvent({
    actor: actorOf(caller),
    action: "snapshot.quota",
    result: "success",
    targetUserId: input.userId,
    meta,
    detail: { maxCount: input.maxCount, maxBytes: input.maxBytes },
  });
}

// ── following agent tasks ───────────────────────────────────────────────────────────────────

/** Mirrors an agent task onto the Task row (step, progress, new log lines) until it ends. */
async function follow(taskId: string, vm: Pick<VmRow, "name" | "ownerId">, op: TaskOp): Promise<TaskInfo> {
  let logged = 0;
  let chain = Promise.resolve();
  const mirror = (task: TaskInfo) => {
    chain = chain
      .then(async () => {
        const lines = task.log ?? [];
        for (const line of lines.slice(logged)) await unsafeAppendTaskLog(taskId, line);
        logged = Math.max(logged, lines.length);
        if (task.state === "running") {
          await unsafeUpdateTask(taskId, {
            progress: Math.min(95, task.progress ?? 10),
            detail: { step: task.step },
          });
        }
        await publishTask(taskId, vm.ownerId);
      })
      .catch(() => undefined);
  };
  const task = await followAgentTask({
    agentTaskId: taskId,
    op,
    vmName: vm.name,
    waitMs: TASK_WAIT_MS,
    onUpdate: mirror,
  });
  mirror(task);
  await chain;
  return task;
}

async function endTask(taskId: string, ownerId: string, task: TaskInfo, successText: string) {
  if (task.state === "succeeded") {
    await unsafeUpdateTask(taskId, { status: "succeeded", progress: 100, detail: { step: "done" } });
    await unsafeAppendTaskLog(taskId, successText);
  } else {
    const interrupted = task.state === "interrupted";
    const message = interrupted
      ? "Interrupted: the host agent restarted during this task. Nothing partial was kept and the VM was resumed."
      : task.error?.code === "invalid-state" && task.op === "snapshot.restore"
        ? "The snapshot was taken over another base image and cannot be restored."
        : "The host could not finish this task.";
    if (task.error)
      console.error(`[snapshots] agent task ${task.id} ${task.op} ${task.state}: ${task.error.message}`);
    await unsafeUpdateTask(taskId, {
      status: interrupted ? "interrupted" : "failed",
      progress: 100,
      error: message,
      detail: { step: task.state },
    });
    await unsafeAppendTaskLog(taskId, message, "error");
  }
  await publishTask(taskId, ownerId);
  getHub().refresh(task.vm);
}

async function settleSnapshot(
  task: TaskInfo,
  snapshotId: string,
  vm: Pick<VmRow, "ownerId">,
  taskId: string,
) {
  const info = task.state === "succeeded" ? task.snapshot : null;
  await getDb()
    .snapshot.update({
      where: { id: snapshotId },
      data: info
        ? { status: "ready", sizeBytes: BigInt(info.allocatedBytes), manifest: JSON.stringify(info) }
        : { status: "failed" },
    })
    .catch(() => undefined);
  const text = info
    ? `Snapshot ready: ${formatBytes(info.allocatedBytes)} on disk${info.pauseMs !== null ? `, guest paused ${(info.pauseMs / 1000).toFixed(2)} s` : ""}.`
    : "";
  await endTask(taskId, vm.ownerId, task, text);
}

async function settleRestore(
  task: TaskInfo,
  snapshotId: string,
  safetyId: string,
  vm: Pick<VmRow, "ownerId">,
  taskId: string,
) {
  const db = getDb();
  await db.snapshot.update({ where: { id: snapshotId }, data: { status: "ready" } }).catch(() => undefined);
  const safety = task.snapshot;
  if (safety?.id === safetyId) {
    await db.snapshot
      .update({
        where: { id: safetyId },
        data: { status: "ready", sizeBytes: BigInt(safety.allocatedBytes), manifest: JSON.stringify(safety) },
      })
      .catch(() => undefined);
  } else {
    await db.snapshot.delete({ where: { id: safetyId } }).catch(() => undefined);
  }
  await endTask(taskId, vm.ownerId, task, "Restored; the VM is back up.");
}

// ── recovery (once per web process) ─────────────────────────────────────────────────────────

const g = globalThis as { __zaphodSnapshotRecovery?: Promise<void> };

/** Snapshots left running/restoring by a previous web process: followed again or settled. */
export function ensureSnapshotService(): Promise<void> {
  g.__zaphodSnapshotRecovery ??= recover().catch((e) => console.error("[snapshots] recovery failed:", e));
  return g.__zaphodSnapshotRecovery;
}

async function recover(): Promise<void> {
  const db = getDb();
  const rows = await db.snapshot.findMany({
    where: { status: { in: ["running", "restoring"] }, kind: "manual" },
    select: { id: true, status: true, taskId: true, vm: { select: { name: true, ownerId: true } } },
  });
  for (const row of rows) {
    if (!row.taskId) continue;
    const taskId = row.taskId;
    const agentTask = await getAgent()
      .call("task.get", { id: taskId })
      .catch(() => null);
    const op: TaskOp = row.status === "running" ? "snapshot.create" : "snapshot.restore";
    const settle = async (task: TaskInfo) => {
      if (op === "snapshot.create") return settleSnapshot(task, row.id, row.vm, taskId);
      const safety = await db.snapshot.findFirst({ where: { taskId, kind: "safety" }, select: { id: true } });
      return settleRestore(task, row.id, safety?.id ?? "", row.vm, taskId);
    };
    const lost: TaskInfo = {
      id: taskId,
      op,
      vm: row.vm.name,
      state: "interrupted",
      step: "",
      startedAt: new Date().toISOString(),
      endedAt: new Date().toISOString(),
      error: { code: "internal", message: "unknown to the agent" },
      result: null,
    };
    if (!agentTask) await settle(lost);
    else if (agentTask.state === "running") void follow(taskId, row.vm, op).then(settle);
    else await settle(agentTask);
  }
}
