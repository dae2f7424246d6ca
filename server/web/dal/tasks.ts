import "server-only";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import type { TaskStatus } from "../domain";
import { seesAllVms } from "../vms/access";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export const TASK_KINDS = [
  "provision",
  "destroy",
  "start",
  "reboot",
  "reset",
  "shutdown",
  "poweroff",
  "grow-storage",
  "change-owner",
  "snapshot",
  "restore",
] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
/** Long work the panel itself does under a task row, not an agent task (a cold move between hosts). */
export type PanelTaskKind = "move";

/** Extra state a task carries in its `result` column (JSON text). */
export type TaskDetail = {
  /** Short text of the current step ("booting", "waiting for the guest", …). */
  step?: string;
  /** Reboot: when the hard reset will happen (ISO), while counting down. */
  resetAt?: string | null;
  /** Reboot: set when it ended through a hard reset. */
  hardReset?: boolean;
  /** Reboot: when the graceful wait ends and the hard reset is offered (ISO). */
  graceEndsAt?: string | null;
  /** The agent task the row follows now (default: the row's own id, the first request's id). */
  agentTaskId?: string;
  /** How many of the agent task's log lines are already in the row's log. */
  agentLogLines?: number;
  /** Facts of the kind the pipeline needs to settle after a restart (snapshot ids, sizes, …). */
  data?: Record<string, unknown>;
};

export type TaskView = {
  id: string;
  vmName: string | null;
  kind: string;
  status: TaskStatus;
  progress: number;
  step: string;
  resetAt: string | null;
  /** Reboot: end of the graceful wait (ISO), while waiting. */
  graceEndsAt: string | null;
  /** Reboot: it fell back to a hard reset. */
  hardReset: boolean;
  error: string | null;
  actor: string | null;
  createdAt: string;
  endedAt: string | null;
  logs: { at: string; level: string; message: string }[];
};

const taskSelect = {
  id: true,
  kind: true,
  status: true,
  progress: true,
  result: true,
  error: true,
  createdAt: true,
  endedAt: true,
  vm: { select: { name: true } },
  actor: { select: { username: true } },
  logs: { select: { at: true, level: true, message: true }, orderBy: { seq: "asc" as const } },
} as const;

type SelectedTask = {
  id: string;
  kind: string;
  status: string;
  progress: number;
  result: string | null;
  error: string | null;
  createdAt: Date;
  endedAt: Date | null;
  vm: { name: string } | null;
  actor: { username: string } | null;
  logs: { at: Date; level: string; message: string }[];
};

export function parseDetail(text: string | null): TaskDetail {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === "object" ? (v as TaskDetail) : {};
  } catch {
    return {};
  }
}

function toView(t: SelectedTask): TaskView {
  const detail = parseDetail(t.result);
  return {
    id: t.id,
    vmName: t.vm?.name ?? null,
    kind: t.kind,
    status: t.status as TaskStatus,
    progress: t.progress,
    step: detail.step ?? "",
    resetAt: detail.resetAt ?? null,
    graceEndsAt: detail.graceEndsAt ?? null,
    hardReset: detail.hardReset === true,
    error: t.error,
    actor: t.actor?.username ?? null,
    createdAt: t.createdAt.toISOString(),
    endedAt: t.endedAt?.toISOString() ?? null,
    logs: t.logs.map((l) => ({ at: l.at.toISOString(), level: l.level, message: l.message })),
  };
}

/** Tasks of one VM the caller may see (the VM was looked up with getVmForCaller). */
export async function listTasksForVm(caller: Caller, vmId: string, take = 20): Promise<TaskView[]> {
  assertPermission(caller, "vm.read");
  const rows = await getDb().task.findMany({
    where: seesAllVms(caller) ? { vmId } : { vmId, ownerId: caller.id },
    select: taskSelect,
    orderBy: { createdAt: "desc" },
    take,
  });
  return rows.map(toView);
}

/** One task the caller may see (their own; any for an admin), or null: scoped like listTasksForVm. */
export async function getTaskViewForCaller(caller: Caller, taskId: string): Promise<TaskView | null> {
  assertPermission(caller, "vm.read");
  const row = await getDb().task.findFirst({
    where: seesAllVms(caller) ? { id: taskId } : { id: taskId, ownerId: caller.id },
    select: taskSelect,
  });
  return row ? toView(row) : null;
}

/** Every task on the host, newest first (admin). */
export async function listAllTasks(caller: Caller, take = 50): Promise<TaskView[]> {
  assertPermission(caller, "vm.read.any");
  const rows = await getDb().task.findMany({ select: taskSelect, orderBy: { createdAt: "desc" }, take });
  return rows.map(toView);
}

/** Tasks that failed since `since` (newest first), for the admin's overview. */
export async function listFailedTasks(caller: Caller, since: Date, take = 5): Promise<TaskView[]> {
  assertPermission(caller, "vm.read.any");
  const rows = await getDb().task.findMany({
    where: { status: { in: ["failed", "interrupted"] }, createdAt: { gte: since } },
    select: taskSelect,
    orderBy: { createdAt: "desc" },
    take,
  });
  return rows.map(toView);
}

/** The VM's audit trail, scoped like its tasks. */
export async function listVmAudit(
  caller: Caller,
  vmId: string,
  take = 20,
): Promise<
  {
    id: string;
    at: string;
    actor: string;
    /** False for the host CLI and the panel's own timers. */
    actorIsAccount: boolean;
    action: string;
    result: string;
    /** What it happened alongside (`detail.during`: "reboot", "provision"), if anything. */
    during: string | null;
  }[]
> {
  assertPermission(caller, "vm.read");
  const rows = await getDb().auditEvent.findMany({
    where: seesAllVms(caller) ? { vmId } : { vmId, vm: { ownerId: caller.id } },
    select: {
      id: true,
      createdAt: true,
      actorId: true,
      actorLabel: true,
      action: true,
      result: true,
      detail: true,
    },
    orderBy: { createdAt: "desc" },
    take,
  });
  return rows.map((r) => ({
    id: r.id,
    at: r.createdAt.toISOString(),
    actor: r.actorLabel,
    actorIsAccount: r.actorId !== null,
    action: r.action,
    result: r.result,
    during: duringOf(r.detail),
  }));
}

function duringOf(detail: unknown): string | null {
  let d = detail;
  if (typeof d === "string") {
    try {
      d = JSON.parse(d) as unknown;
    } catch {
      return null;
    }
  }
  const during = d && typeof d === "object" ? (d as { during?: unknown }).during : null;
  return typeof during === "string" ? during : null;
}

/* ------------------------------------------------------------------------------------------------
 * Writes, used by the VM service (server/web/vms) after it has authorized the caller.
 * ---------------------------------------------------------------------------------------------- */

export async function unsafeCreateTask(input: {
  id?: string;
  vmId: string | null;
  ownerId: string;
  actorId: string | null;
  kind: TaskKind | PanelTaskKind;
  step: string;
  /** The instance that follows it (server/web/instances.ts). */
  followerId?: string | null;
}): Promise<string> {
  const id = input.id ?? newId();
  const now = new Date();
  await getDb().task.create({
    data: {
      id,
      vmId: input.vmId,
      ownerId: input.ownerId,
      actorId: input.actorId,
      kind: input.kind,
      status: "running",
      progress: 0,
      result: JSON.stringify({ step: input.step } satisfies TaskDetail),
      createdAt: now,
      startedAt: now,
      followerId: input.followerId ?? null,
    },
  });
  return id;
}

export async function unsafeGetTaskView(id: string): Promise<TaskView | null> {
  const row = await getDb().task.findUnique({ where: { id }, select: taskSelect });
  return row ? toView(row) : null;
}

export async function unsafeGetTaskStatus(
  id: string,
): Promise<{ status: string; kind: string; vmId: string | null; detail: TaskDetail } | null> {
  const row = await getDb().task.findUnique({
    where: { id },
    select: { status: true, kind: true, vmId: true, result: true },
  });
  return row ? { status: row.status, kind: row.kind, vmId: row.vmId, detail: parseDetail(row.result) } : null;
}

export async function unsafeUpdateTask(
  id: string,
  change: { status?: TaskStatus; progress?: number; detail?: TaskDetail; error?: string | null },
): Promise<void> {
  const db = getDb();
  let result: string | undefined;
  if (change.detail) {
    const row = await db.task.findUnique({ where: { id }, select: { result: true } });
    result = JSON.stringify({ ...parseDetail(row?.result ?? null), ...change.detail });
  }
  const ended = change.status && change.status !== "running" && change.status !== "queued";
  await db.task.update({
    where: { id },
    data: {
      ...(change.status ? { status: change.status } : {}),
      ...(change.progress !== undefined ? { progress: change.progress } : {}),
      ...(result !== undefined ? { result } : {}),
      ...(change.error !== undefined ? { error: change.error } : {}),
      ...(ended ? { endedAt: new Date() } : {}),
    },
  });
}

export async function unsafeAppendTaskLog(
  taskId: string,
  message: string,
  level: "info" | "warn" | "error" = "info",
): Promise<void> {
  const db = getDb();
  // One writer per task (the service), so max+1 is safe; the unique index catches a mistake.
  const last = await db.taskLog.findFirst({
    where: { taskId },
    orderBy: { seq: "desc" },
    select: { seq: true },
  });
  await db.taskLog.create({ data: { id: newId(), taskId, seq: (last?.seq ?? 0) + 1, level, message } });
}

/**
 * Ends a running task once: only the process whose update finds the row still running wins (a
 * second web process following the same agent task loses), so the end is written, logged and
 * published once. Returns whether this call ended it.
 */
export async function unsafeEndTask(
  id: string,
  change: { status: Exclude<TaskStatus, "queued" | "running">; error: string | null; detail: TaskDetail },
): Promise<boolean> {
  const db = getDb();
  const row = await db.task.findUnique({ where: { id }, select: { result: true } });
  const { count } = await db.task.updateMany({
    where: { id, status: { in: ["queued", "running"] } },
    data: {
      status: change.status,
      progress: 100,
      error: change.error,
      result: JSON.stringify({ ...parseDetail(row?.result ?? null), ...change.detail }),
      endedAt: new Date(),
    },
  });
  return count === 1;
}

/** Tasks not ended yet (for recovery and adoption: their followers may be gone). */
export async function unsafeListUnfinishedTasks(): Promise<
  {
    id: string;
    kind: string;
    vmId: string | null;
    ownerId: string;
    vmName: string | null;
    vmOwnerId: string | null;
    followerId: string | null;
    detail: TaskDetail;
  }[]
> {
  const rows = await getDb().task.findMany({
    where: { status: { in: ["queued", "running"] } },
    select: {
      id: true,
      kind: true,
      vmId: true,
      ownerId: true,
      result: true,
      followerId: true,
      vm: { select: { name: true, ownerId: true } },
    },
  });
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    vmId: r.vmId,
    ownerId: r.ownerId,
    vmName: r.vm?.name ?? null,
    vmOwnerId: r.vm?.ownerId ?? null,
    followerId: r.followerId,
    detail: parseDetail(r.result),
  }));
}

/** Tasks running now or ended since `since` (what another instance may have changed meanwhile). */
export async function unsafeTasksChangedSince(since: Date): Promise<{ id: string; ownerId: string }[]> {
  return getDb().task.findMany({
    where: { OR: [{ status: { in: ["queued", "running"] } }, { endedAt: { gte: since } }] },
    select: { id: true, ownerId: true },
    take: 500,
  });
}

/** The running task of a VM, if any (at most one runs per VM at a time through the panel). */
export async function unsafeRunningTaskOfVm(vmId: string): Promise<{ id: string; kind: string } | null> {
  return getDb().task.findFirst({
    where: { vmId, status: "running" },
    select: { id: true, kind: true },
    orderBy: { createdAt: "desc" },
  });
}
