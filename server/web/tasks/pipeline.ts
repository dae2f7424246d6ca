import "server-only";
/**
 * THE task pipeline: every kind of long work (./kinds.ts) is started, refused, followed, settled
 * and recovered here, the same way.
 *
 * - start: the Task row (one running task per VM), the agent asked with the task id as request id
 *   (so the agent's task has the row's id), audited; a refusal ends the row `failed` with the
 *   user-facing message, is audited as a failure and thrown.
 * - follow: the agent task's reports become the row's step, bar, log lines and detail (the
 *   reboot's countdown), pushed to browsers through the VM event hub.
 * - settle: the kind's hooks, then the row ends once (`unsafeEndTask`: a second web process
 *   following the same agent task does not end it twice) with the kind's words.
 * - recover: a row left running is followed again when the agent still runs its task, settled
 *   from the agent's record when it ended, and `interrupted` only when the agent does not know it.
 *   The agent holds the timers (a reboot's countdown), so nothing is lost.
 * - one follower: a row names the instance that follows it (Task.followerId, ../instances.ts). A
 *   web instance recovers at start the rows whose follower is itself (its previous process on the
 *   same port) or gone, and on PostgreSQL (where the bus carries the adopter's task views to the
 *   other instances' browsers) after every heartbeat adopts the rows of followers whose heartbeat
 *   went stale (kill -9 of another instance): never a task a live instance follows, and of two
 *   instances adopting at once exactly one wins (a conditional UPDATE).
 */
import { randomUUID } from "node:crypto";
import type { TaskInfo } from "../../protocol/agent";
import { AgentCallError } from "../agent/client";
import { getAgent } from "../agent/instance";
import { getBus } from "../bus";
import type { Actor } from "../dal/caller";
import { unsafeClaimTask } from "../dal/instances";
import {
  type TaskDetail,
  type TaskKind,
  unsafeAppendTaskLog,
  unsafeCreateTask,
  unsafeEndTask,
  unsafeGetTaskStatus,
  unsafeListUnfinishedTasks,
  unsafeRunningTaskOfVm,
  unsafeUpdateTask,
} from "../dal/tasks";
import { newId } from "../db/ids";
import type { AuditAction } from "../domain";
import { ActionFailure } from "../errors";
import { type MoveData, settleAbandonedMove } from "../hosts/move-task";
import { INSTANCE_TTL_MS, instanceId, isWebInstance, onHeartbeat, startHeartbeat } from "../instances";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "../vms/agent-actor";
import { toActionFailure, userMessageOf } from "../vms/agent-errors";
import { getHub } from "../vms/hub";
import { failRefusedTask, followAgentTask, publishTask } from "./agent-tasks";
import { specOfKind } from "./kinds";
import { auditVm, logTask } from "./records";
import type { TaskKindSpec, TaskRef } from "./task-kind";

export { actorLabel, actorOf, auditVm, logTask } from "./records";
export type { TaskKindSpec, TaskRef } from "./task-kind";

const g = globalThis as {
  __zaphodTaskRecovery?: Promise<void>;
  /** Tasks this process follows now (never adopted twice by it). */
  __zaphodFollowing?: Set<string>;
};
const following = (): Set<string> => {
  g.__zaphodFollowing ??= new Set();
  return g.__zaphodFollowing;
};

/**
 * Starts the hub and the heartbeat and, once per process, recovers what a previous process left
 * running; a web instance then adopts, after each heartbeat, the tasks of instances that are gone.
 */
export function ensureTaskPipeline(): Promise<void> {
  getHub().start();
  startHeartbeat();
  g.__zaphodTaskRecovery ??= recoverTasks()
    .catch((e) => console.error("[tasks] recovery failed:", e))
    .then(() => {
      // Adopting needs the bus: the adopter's task views must reach the browsers of the others. On
      // SQLite (one instance; a second one on the same file only recovers at its own start).
      if (!isWebInstance() || !getBus().shared) return;
      let scanning = false;
      onHeartbeat(() => {
        if (scanning) return;
        scanning = true;
        recoverTasks()
          .catch((e) => console.error("[tasks] adopting tasks failed:", e))
          .finally(() => {
            scanning = false;
          });
      });
    });
  return g.__zaphodTaskRecovery;
}

/**
 * Work this process does itself under a task row (a cold move: ../hosts/move-task.ts): followed
 * here from before its row exists, so no adoption scan takes it while it runs. Call the returned
 * function when it ended.
 */
export function followLocally(taskId: string): () => void {
  following().add(taskId);
  return () => following().delete(taskId);
}

/** The host CLI acts while the web process runs: it must not settle the web's running tasks. */
export function skipTaskRecoveryInThisProcess(): void {
  g.__zaphodTaskRecovery = Promise.resolve();
}

/** The refusal while another task holds the VM (a reboot can be hard-reset instead). */
export function busyText(kind: string): string {
  return `A ${kind} is in progress on this VM; wait for it to finish${kind === "reboot" ? " (or use Hard reset)" : ""}.`;
}

export type StartTaskInput = {
  kind: string;
  /** The kind's entry; default: the one of ./kinds.ts. */
  spec?: TaskKindSpec;
  vm: TaskRef["vm"];
  actor: Actor;
  args: unknown;
  /** Audited as this action with the task id (success or failure); null: the caller audits. */
  audit: { action: AuditAction; detail?: Record<string, unknown>; meta?: RequestMeta } | null;
  /** The log's first line once the agent accepted. */
  acceptedText?: string;
  data?: Record<string, unknown>;
  /** Detail the page shows from the start (e.g. a reboot's end of grace, before the agent says). */
  detail?: TaskDetail;
  taskOwnerId?: string;
  /** Runs with the new task id before the agent is asked (rows that name the task). */
  prepare?: (taskId: string) => Promise<void>;
  /** The failure thrown at the caller for a refusal (e.g. a field error), given the agent's. */
  refusal?: (failure: ActionFailure, error: unknown) => ActionFailure;
};

/** Resolves once the agent accepted; `done` resolves with the agent's final task after the row ended. */
export async function startTask(input: StartTaskInput): Promise<{ taskId: string; done: Promise<TaskInfo> }> {
  await ensureTaskPipeline();
  const spec = input.spec ?? specOfKind(input.kind);
  if (!spec) throw new Error(`no task kind ${input.kind}`);
  const { vm } = input;
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running) throw new ActionFailure("conflict", busyText(running.kind));
  const ownerId = input.taskOwnerId ?? vm.ownerId;
  // Followed by this process from before its row exists: an adoption scan (every heartbeat on
  // PostgreSQL) must not take the row while the agent is still accepting the task, ask the agent,
  // hear "no such task" and end it interrupted.
  const taskId = newId();
  following().add(taskId);
  try {
    return await startFollowed(taskId, input, spec, ownerId);
  } catch (error) {
    following().delete(taskId);
    throw error;
  }
}

async function startFollowed(
  taskId: string,
  input: StartTaskInput,
  spec: TaskKindSpec,
  ownerId: string,
): Promise<{ taskId: string; done: Promise<TaskInfo> }> {
  const { vm, actor } = input;
  await unsafeCreateTask({
    id: taskId,
    vmId: vm.id,
    ownerId,
    actorId: typeof actor === "string" ? null : actor.id,
    // A test may run a kind of its own (with its `spec`); the column is plain text.
    kind: input.kind as TaskKind,
    step: spec.firstStep,
    followerId: instanceId(),
  });
  const data = input.data ?? {};
  if (input.data || input.detail) await unsafeUpdateTask(taskId, { detail: { ...input.detail, data } });
  const ref: TaskRef = { taskId, vm, ownerId, data };
  const audited = input.audit;
  let agentTaskId = taskId;
  try {
    await input.prepare?.(taskId);
    const reply = (await getAgent().call(spec.op, input.args as never, {
      id: taskId,
      actor: agentActor(actor, vm),
    })) as { task?: TaskInfo };
    // The agent may answer with a task already running that this request joins.
    if (reply.task?.id && reply.task.id !== taskId) {
      agentTaskId = reply.task.id;
      await unsafeUpdateTask(taskId, { detail: { agentTaskId } });
    }
  } catch (error) {
    const failure = toActionFailure(error, spec.op);
    await failRefusedTask(taskId, ownerId, failure);
    if (audited)
      await auditVm(actor, audited.action, vm, "failure", audited.meta, {
        taskId,
        ...audited.detail,
        error: failure.code,
      });
    await spec.onRefused?.(ref).catch((e) => console.error(`[tasks] ${input.kind} undo failed:`, e));
    throw input.refusal ? input.refusal(failure, error) : failure;
  }
  if (audited)
    await auditVm(actor, audited.action, vm, "success", audited.meta, { taskId, ...audited.detail });
  if (input.acceptedText) await logTask(ref, input.acceptedText);
  getHub().refresh(vm.name);
  const done = followed(taskId, runTask(spec, ref, actor, agentTaskId));
  done.catch((e) => console.error(`[tasks] ${input.kind} ${taskId} failed:`, e));
  return { taskId, done };
}

/** Marks task `id` as followed by this process until `work` ends. */
function followed<T>(id: string, work: Promise<T>): Promise<T> {
  following().add(id);
  return work.finally(() => following().delete(id));
}

/** Follows the agent task (unless `known` already ended), goes on with the kind's next verb, settles. */
async function runTask(
  spec: TaskKindSpec,
  ref: TaskRef,
  actor: Actor,
  agentTaskId: string,
  known?: TaskInfo,
): Promise<TaskInfo> {
  let task =
    known && known.state !== "running"
      ? await mirrorLast(spec, ref, known)
      : await follow(spec, ref, agentTaskId, known);
  const firstSucceeded = task.state === "succeeded" && task.op === spec.op;
  if (firstSucceeded && spec.afterFirst) {
    try {
      await spec.afterFirst(ref);
    } catch (error) {
      await endTask(ref, "failed", toActionFailure(error, spec.op).message, "error", { step: "failed" });
      return task;
    }
  }
  const next = firstSucceeded ? spec.next?.(ref, task) : null;
  if (next) {
    const id = randomUUID();
    await unsafeUpdateTask(ref.taskId, {
      progress: next.progress,
      detail: { step: next.step, agentTaskId: id, agentLogLines: 0 },
    });
    await logTask(ref, next.logText);
    try {
      await getAgent().call(next.op, next.args as never, { id, actor: agentActor(actor, ref.vm) });
    } catch (error) {
      const failure = toActionFailure(error, next.op);
      await endTask(ref, "failed", failure.message, "error", { step: "failed" });
      return task;
    }
    await auditVm(actor, next.audit.action, ref.vm, "success", undefined, {
      taskId: ref.taskId,
      agentTaskId: id,
      during: next.audit.during,
    });
    task = await follow(spec, ref, id);
  }
  await settle(spec, ref, task);
  return task;
}

/** Mirrors an agent task onto the row (step, bar, new log lines, the kind's detail) until it ends. */
async function follow(
  spec: TaskKindSpec,
  ref: TaskRef,
  agentTaskId: string,
  /** The agent's record as just read (a task followed again after a restart): shown at once. */
  initial?: TaskInfo,
): Promise<TaskInfo> {
  let chain = Promise.resolve();
  const mirror = (task: TaskInfo) => {
    chain = chain.then(() => mirrorOnce(spec, ref, task)).catch(() => undefined);
  };
  if (initial) mirror(initial);
  // Subscribed in this same turn: no report between the read of `initial` and here is missed.
  const task = await followAgentTask({
    agentTaskId,
    op: spec.op,
    vmName: ref.vm.name,
    waitMs: spec.waitMs(ref),
    onUpdate: mirror,
  });
  mirror(task);
  await chain;
  return task;
}

async function mirrorLast(spec: TaskKindSpec, ref: TaskRef, task: TaskInfo): Promise<TaskInfo> {
  await mirrorOnce(spec, ref, task).catch(() => undefined);
  return task;
}

async function mirrorOnce(spec: TaskKindSpec, ref: TaskRef, task: TaskInfo): Promise<void> {
  const row = await unsafeGetTaskStatus(ref.taskId);
  if (row?.status !== "running") return;
  const before = row.detail;
  const seen = before.agentLogLines ?? 0;
  const lines = task.log ?? [];
  for (const line of lines.slice(seen)) await unsafeAppendTaskLog(ref.taskId, line);
  await spec.onUpdate?.(ref, task, before);
  const running = task.state === "running";
  await unsafeUpdateTask(ref.taskId, {
    ...(running ? { progress: Math.max(0, Math.min(99, spec.progressOf(task))) } : {}),
    detail: {
      agentLogLines: Math.max(seen, lines.length),
      ...(running && task.step ? { step: task.step } : {}),
      ...(running ? spec.detailOf?.(task) : {}),
    },
  });
  await publishTask(ref.taskId, ref.ownerId);
}

/** The kind's hooks, then the row's end (once), its last log line, the VM re-read. */
async function settle(spec: TaskKindSpec, ref: TaskRef, task: TaskInfo): Promise<void> {
  const before = (await unsafeGetTaskStatus(ref.taskId))?.detail ?? {};
  await spec.settle?.(ref, task).catch((e) => console.error(`[tasks] settling ${ref.taskId} failed:`, e));
  const endDetail = spec.endDetailOf?.(task, before) ?? {};
  if (task.state === "succeeded") {
    const waiting = task.result?.stage === "waiting-at-console";
    const text = spec.successText(ref, task, before);
    await endTask(
      ref,
      "succeeded",
      waiting
        ? `${text.replace(/\.$/, "")}, but the boot stopped at a prompt (${task.result?.stageDetail ?? "console"}): open the console.`
        : text,
      waiting ? "warn" : "info",
      { ...endDetail, step: waiting ? "waiting at console" : "done" },
    );
  } else {
    if (task.error)
      console.error(`[tasks] agent task ${task.id} ${task.op} ${task.state}: ${task.error.message}`);
    const text = spec.failureText?.(ref, task) ?? failureTextOf(task);
    const status = task.state === "interrupted" ? "interrupted" : "failed";
    await endTask(ref, status, text, "error", { ...endDetail, step: status });
  }
  await spec.afterEnd?.(ref, task).catch((e) => console.error(`[tasks] after ${ref.taskId} failed:`, e));
  getHub().refresh(ref.vm.name);
}

async function endTask(
  ref: TaskRef,
  status: "succeeded" | "failed" | "interrupted",
  text: string,
  level: "info" | "warn" | "error",
  detail: TaskDetail,
): Promise<void> {
  const won = await unsafeEndTask(ref.taskId, {
    status,
    error: status === "succeeded" ? null : text,
    detail: { resetAt: null, graceEndsAt: null, ...detail },
  });
  if (won) await logTask(ref, text, level);
}

/** What the agent's `lost` record says: it does not know the task (it restarted meanwhile). */
const LOST = "unknown to the agent";

function failureTextOf(task: TaskInfo): string {
  if (task.state === "interrupted")
    return task.error?.message === LOST
      ? "Interrupted: the host agent does not know this task (it restarted); the VM's current state is shown on its page."
      : "Interrupted: the host agent restarted during this task; the VM's current state is shown on its page.";
  return userMessageOf(new AgentCallError(task.error?.code ?? "internal", "", task.op), task.op).message;
}

/** The agent's answer to "how is task `id`": its record, `lost` when it does not know it, null when unreachable. */
async function agentTaskOf(id: string): Promise<TaskInfo | "lost" | null> {
  try {
    return await getAgent().call("task.get", { id });
  } catch (error) {
    return (error as { code?: unknown }).code === "not-found" ? "lost" : null;
  }
}

/**
 * Rows whose follower is this instance's previous process or gone: followed again, settled, or
 * interrupted (see top). Rows a live instance follows are left to it.
 */
export async function recoverTasks(): Promise<void> {
  for (const row of await unsafeListUnfinishedTasks()) {
    if (following().has(row.id)) continue;
    if (!(await unsafeClaimTask(row.id, instanceId(), INSTANCE_TTL_MS))) continue;
    if (row.followerId && row.followerId !== instanceId())
      console.info(`[tasks] adopting task ${row.id} (${row.kind}) from ${row.followerId}, which is gone`);
    if (row.kind === "move") {
      await settleAbandonedMove({ ...row, data: (row.detail.data ?? {}) as Partial<MoveData> });
      continue;
    }
    const spec = specOfKind(row.kind);
    if (!spec || !row.vmId || !row.vmName || !row.vmOwnerId) {
      await unsafeEndTask(row.id, {
        status: "interrupted",
        error: "The panel restarted while this task ran; the VM's current state is shown on its page.",
        detail: { step: "interrupted", resetAt: null, graceEndsAt: null },
      });
      await unsafeAppendTaskLog(row.id, "Interrupted: the panel restarted while this task ran.", "warn");
      continue;
    }
    const ref: TaskRef = {
      taskId: row.id,
      vm: { id: row.vmId, name: row.vmName, ownerId: row.vmOwnerId },
      ownerId: row.ownerId,
      data: row.detail.data ?? {},
    };
    const agentTaskId = row.detail.agentTaskId ?? row.id;
    const known = await agentTaskOf(agentTaskId);
    if (known === "lost") {
      const now = new Date().toISOString();
      await settle(spec, ref, {
        id: agentTaskId,
        op: spec.op,
        vm: row.vmName,
        state: "interrupted",
        step: "",
        startedAt: now,
        endedAt: now,
        error: { code: "internal", message: LOST },
        result: null,
      });
      continue;
    }
    // Running (or the agent is unreachable for now): followed again; ended: settled from its record.
    // Settling an ended one is quick (awaited), unless the kind goes on with a next verb.
    const done = followed(row.id, runTask(spec, ref, "system", agentTaskId, known ?? undefined));
    if (known && known.state !== "running" && !spec.next) await done;
    else done.catch((e) => console.error(`[tasks] following ${row.id} again failed:`, e));
  }
}
