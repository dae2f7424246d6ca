import "server-only";
/**
 * Snapshot rows. Reads take the caller and scope the query to them (a VM the caller does not see
 * has no snapshots; someone else's snapshot is a missing one). Writes are `unsafe…`: the snapshot
 * service and the task pipeline call them after the scoped lookup and the access rule decided.
 */
import type { SnapshotInfo } from "../../protocol/agent";
import { getDb } from "../db/client";
import type { SnapshotStatus } from "../domain";
import { ActionFailure } from "../errors";
import { seesAllVms } from "../vms/access";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

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

/** Scope: every VM's snapshots for a caller who sees every VM, else only those of their own VMs. */
function scoped(caller: Caller) {
  return seesAllVms(caller) ? {} : { vm: { ownerId: caller.id } };
}

/** The snapshots of one VM (looked up with getVmForCaller) the caller may see, newest first. */
export async function listSnapshotsForVm(caller: Caller, vmId: string): Promise<SnapshotView[]> {
  assertPermission(caller, "vm.read");
  const rows = await getDb().snapshot.findMany({
    where: { vmId, ...scoped(caller) },
    select: snapshotSelect,
    orderBy: { createdAt: "desc" },
  });
  return rows.map(toView);
}

/** One snapshot of that VM, or not-found (a missing one and someone else's read the same). */
export async function getSnapshotForCallerOrThrow(
  caller: Caller,
  vmId: string,
  snapshotId: string,
): Promise<SnapshotView> {
  assertPermission(caller, "vm.read");
  const row = await getDb().snapshot.findFirst({
    where: { id: snapshotId, vmId, ...scoped(caller) },
    select: snapshotSelect,
  });
  if (!row) throw new ActionFailure("not-found", "No such snapshot.");
  return toView(row);
}

/** Every snapshot on the host, newest first (the admin's snapshot view). */
export async function listAllSnapshotsForCaller(caller: Caller, take = 500): Promise<SnapshotView[]> {
  assertPermission(caller, "snapshots.approve");
  const rows = await getDb().snapshot.findMany({
    select: snapshotSelect,
    orderBy: { createdAt: "desc" },
    take,
  });
  return rows.map(toView);
}

/** A snapshot to decide on (approval policy): its status and its VM's name, or not-found. */
export async function getSnapshotToDecideOrThrow(
  caller: Caller,
  snapshotId: string,
): Promise<{ id: string; status: string; vmName: string }> {
  assertPermission(caller, "snapshots.approve");
  const row = await getDb().snapshot.findUnique({
    where: { id: snapshotId },
    select: { id: true, status: true, vm: { select: { name: true } } },
  });
  if (!row) throw new ActionFailure("not-found", "No such snapshot.");
  return { id: row.id, status: row.status, vmName: row.vm.name };
}

/* ------------------------------------------------------------------------------------------------
 * Unscoped: for the snapshot service and the task pipeline, after they authorized the caller.
 * ---------------------------------------------------------------------------------------------- */

/** Rows counted against a member's quota (unscoped: the policy is given the owner it checked). */
export async function unsafeCountedSnapshotsOf(
  ownerId: string,
  statuses: readonly string[],
): Promise<{ status: string; sizeBytes: number }[]> {
  const rows = await getDb().snapshot.findMany({
    where: { vm: { ownerId }, status: { in: [...statuses] } },
    select: { status: true, sizeBytes: true },
  });
  return rows.map((r) => ({ status: r.status, sizeBytes: Number(r.sizeBytes) }));
}

export async function unsafeCreateSnapshotRow(row: {
  id: string;
  vmId: string;
  label: string;
  includesStorage: boolean;
  status: SnapshotStatus;
  kind: "manual" | "safety";
  taskId?: string | null;
}): Promise<void> {
  await getDb().snapshot.create({ data: { ...row, taskId: row.taskId ?? null } });
}

/** A status change, with the task that now works on the row. */
export async function unsafeSetSnapshotStatus(
  id: string,
  status: SnapshotStatus,
  taskId?: string,
): Promise<void> {
  await getDb().snapshot.update({
    where: { id },
    data: { status, ...(taskId !== undefined ? { taskId } : {}) },
  });
}

/** Unscoped: the agent's record of a finished snapshot → ready with its size and manifest; null → failed. */
export async function unsafeSettleSnapshotRow(id: string, info: SnapshotInfo | null): Promise<void> {
  await getDb()
    .snapshot.update({
      where: { id },
      data: info
        ? { status: "ready", sizeBytes: BigInt(info.allocatedBytes), manifest: JSON.stringify(info) }
        : { status: "failed" },
    })
    .catch(() => undefined);
}

export async function unsafeDeleteSnapshotRow(id: string): Promise<void> {
  await getDb()
    .snapshot.delete({ where: { id } })
    .catch(() => undefined);
}

/** Whether a snapshot row (this one, e.g. the approved request) wants its disks copied. */
export async function unsafeSnapshotIncludesStorage(id: string): Promise<boolean> {
  const row = await getDb().snapshot.findUniqueOrThrow({ where: { id }, select: { includesStorage: true } });
  return row.includesStorage;
}
