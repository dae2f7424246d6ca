import "server-only";
/**
 * Snapshots for members and the admin, for their own rules: the scoped VM lookup with the access
 * rule's `snapshot` capability, then the snapshot by (id, that VM) from ../dal/snapshots.ts
 * (someone else's snapshot is a missing one: not-found); quotas and the approval policy
 * (./policy.ts). Taking and restoring are tasks of the one pipeline (../tasks/pipeline.ts, kinds
 * `snapshot` and `restore`), whose entries keep the snapshot rows in step with the agent.
 */
import { randomUUID } from "node:crypto";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import {
  getSnapshotForCallerOrThrow,
  getSnapshotToDecideOrThrow,
  listAllSnapshotsForCaller,
  listSnapshotsForVm as listSnapshotRows,
  type SnapshotView,
  unsafeCreateSnapshotRow,
  unsafeDeleteSnapshotRow,
  unsafeSetSnapshotStatus,
  unsafeSnapshotIncludesStorage,
} from "../dal/snapshots";
import { unsafeRunningTaskOfVm } from "../dal/tasks";
import { getVmForCaller, type VmRow } from "../dal/vms";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { actorOf, auditVm, busyText, ensureTaskPipeline, startTask } from "../tasks/pipeline";
import { agentActor } from "../vms/agent-actor";
import { toActionFailure } from "../vms/agent-errors";
import {
  formatBytes,
  quotaRefusal,
  unsafeGetSnapshotDefaults,
  unsafeQuotaOf,
  unsafeSetSetting,
} from "./policy";

export type { SnapshotView } from "../dal/snapshots";

// ── reading ─────────────────────────────────────────────────────────────────────────────────

/** The snapshots of one VM the caller may see, newest first. */
export async function listSnapshotsForVm(caller: Caller, vmName: string): Promise<SnapshotView[]> {
  const vm = await getVmForCaller(caller, vmName);
  await ensureTaskPipeline();
  return listSnapshotRows(caller, vm.id);
}

/** The VM owner's quota with usage (what the member sees on the VM page). */
export async function getQuotaForVm(caller: Caller, vmName: string) {
  const vm = await getVmForCaller(caller, vmName);
  const [quota, defaults] = await Promise.all([unsafeQuotaOf(vm.ownerId), unsafeGetSnapshotDefaults()]);
  return { ...quota, policy: defaults.policy };
}

async function refuseWhileBusy(vm: VmRow): Promise<void> {
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running) throw new ActionFailure("conflict", busyText(running.kind));
}

// ── take ────────────────────────────────────────────────────────────────────────────────────

export async function takeSnapshot(
  caller: Caller,
  input: { vmName: string; label: string; includeStorage: boolean },
  meta?: RequestMeta,
): Promise<{ snapshotId: string; taskId: string | null; status: string }> {
  const vm = await getVmForCaller(caller, input.vmName, "snapshot");
  await ensureTaskPipeline();
  const quota = await unsafeQuotaOf(vm.ownerId);
  const estimate = await estimateBytes(vm.name, input.includeStorage);
  const refusal = quotaRefusal(quota, estimate);
  if (refusal) {
    await auditVm(actorOf(caller), "snapshot.create", vm, "denied", meta, { reason: "quota", estimate });
    throw new ActionFailure("conflict", refusal);
  }
  await refuseWhileBusy(vm);
  const { policy } = await unsafeGetSnapshotDefaults();
  const id = randomUUID();
  const label = input.label.trim() || defaultLabel();
  await unsafeCreateSnapshotRow({
    id,
    vmId: vm.id,
    label,
    includesStorage: input.includeStorage,
    status: policy === "approval" ? "requested" : "approved",
    kind: "manual",
  });
  if (policy === "approval") {
    await auditVm(actorOf(caller), "snapshot.request", vm, "success", meta, { snapshotId: id, label });
    return { snapshotId: id, taskId: null, status: "requested" };
  }
  const taskId = await startSnapshot(vm, id, caller, {
    action: "snapshot.create",
    detail: { snapshotId: id, label },
    meta,
  });
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

/** An approved snapshot row → running, as a `snapshot` task (the requester's or the approver's). */
async function startSnapshot(
  vm: VmRow,
  snapshotId: string,
  caller: Caller,
  audit: Parameters<typeof startTask>[0]["audit"],
): Promise<string> {
  const includeStorage = await unsafeSnapshotIncludesStorage(snapshotId);
  const { taskId } = await startTask({
    kind: "snapshot",
    vm,
    actor: actorOf(caller),
    args: { name: vm.name, id: snapshotId, includeStorage },
    audit,
    acceptedText: `Snapshot requested${includeStorage ? " (root and storage disks)" : " (root disk)"}.`,
    data: { snapshotId },
    prepare: (id) => unsafeSetSnapshotStatus(snapshotId, "running", id),
  });
  return taskId;
}

// ── restore ─────────────────────────────────────────────────────────────────────────────────

export async function restoreSnapshot(
  caller: Caller,
  input: { vmName: string; snapshotId: string; confirm: string },
  meta?: RequestMeta,
): Promise<{ taskId: string; safetyId: string }> {
  const vm = await getVmForCaller(caller, input.vmName, "snapshot");
  await ensureTaskPipeline();
  const snapshot = await getSnapshotForCallerOrThrow(caller, vm.id, input.snapshotId);
  if (input.confirm !== snapshot.id)
    throw new ActionFailure("invalid", "Please confirm the restore.", { confirm: "Confirm the restore" });
  if (snapshot.status !== "ready")
    throw new ActionFailure("conflict", "Only a ready snapshot can be restored.");
  await refuseWhileBusy(vm);
  // Never refused by the quota: the safety snapshot may go over it (see ./policy.ts).
  const safetyId = randomUUID();
  const { taskId } = await startTask({
    kind: "restore",
    vm,
    actor: actorOf(caller),
    args: { name: vm.name, id: snapshot.id, confirm: snapshot.id, safetyId },
    audit: { action: "snapshot.restore", detail: { snapshotId: snapshot.id, safetyId }, meta },
    acceptedText: `${caller.username} restores “${snapshot.label}”: clean shut down, safety snapshot, files put back, start.`,
    data: { snapshotId: snapshot.id, safetyId },
    prepare: async (id) => {
      await unsafeCreateSnapshotRow({
        id: safetyId,
        vmId: vm.id,
        label: `Before restoring “${snapshot.label}”`.slice(0, 120),
        includesStorage: snapshot.includesStorage,
        status: "running",
        kind: "safety",
        taskId: id,
      });
      await unsafeSetSnapshotStatus(snapshot.id, "restoring", id);
    },
  });
  return { taskId, safetyId };
}

// ── delete ──────────────────────────────────────────────────────────────────────────────────

export async function deleteSnapshot(
  caller: Caller,
  input: { vmName: string; snapshotId: string },
  meta?: RequestMeta,
): Promise<void> {
  const vm = await getVmForCaller(caller, input.vmName, "snapshot");
  const snapshot = await getSnapshotForCallerOrThrow(caller, vm.id, input.snapshotId);
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
        await auditVm(actorOf(caller), "snapshot.delete", vm, "failure", meta, {
          snapshotId: snapshot.id,
          error: failure.code,
        });
        throw failure;
      }
    }
  }
  await unsafeDeleteSnapshotRow(snapshot.id);
  await auditVm(actorOf(caller), "snapshot.delete", vm, "success", meta, {
    snapshotId: snapshot.id,
    label: snapshot.label,
    sizeBytes: snapshot.sizeBytes,
  });
}

// ── admin ───────────────────────────────────────────────────────────────────────────────────

export async function listAllSnapshots(caller: Caller): Promise<SnapshotView[]> {
  await ensureTaskPipeline();
  return listAllSnapshotsForCaller(caller);
}

async function requestedOrThrow(caller: Caller, snapshotId: string) {
  const row = await getSnapshotToDecideOrThrow(caller, snapshotId);
  const vm = await getVmForCaller(caller, row.vmName, "snapshot");
  if (row.status !== "requested")
    throw new ActionFailure("conflict", "This snapshot is not waiting for approval.");
  return { row, vm };
}

/** requested → approved → running. */
export async function approveSnapshot(caller: Caller, snapshotId: string, meta?: RequestMeta) {
  const { vm } = await requestedOrThrow(caller, snapshotId);
  await unsafeSetSnapshotStatus(snapshotId, "approved");
  await auditVm(actorOf(caller), "snapshot.approve", vm, "success", meta, { snapshotId });
  // The approval is the audit entry; the task names the approving admin to the agent.
  const taskId = await startSnapshot(vm, snapshotId, caller, null);
  return { taskId };
}

export async function rejectSnapshot(caller: Caller, snapshotId: string, meta?: RequestMeta) {
  const { vm } = await requestedOrThrow(caller, snapshotId);
  await unsafeSetSnapshotStatus(snapshotId, "rejected");
  await auditVm(actorOf(caller), "snapshot.reject", vm, "success", meta, { snapshotId });
}

/** The admin view: defaults, every member's limits and usage, host figures from the agent. */
export async function getSnapshotAdminView(caller: Caller) {
  assertPermission(caller, "snapshots.approve");
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
  assertPermission(caller, "snapshots.policy");
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
  assertPermission(caller, "snapshots.quota");
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
