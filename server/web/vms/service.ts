import "server-only";
/**
 * The VM service: every server action, route handler and CLI command that acts on a VM comes
 * through here. Per request: the scoped lookup (someone else's VM = a missing VM = not-found), the
 * permission from the table, a Task row and an audit event, then the agent (the task id is the
 * agent request id), and the Task follows the agent's task events. Agent errors become user
 * messages once, in ./agent-errors.ts.
 *
 * Reboot explains itself: Ctrl-Alt-Del first; when the guest is not back (boot stage `up`) within
 * ZAPHOD_REBOOT_GRACE_SECONDS, the task counts down ZAPHOD_REBOOT_COUNTDOWN_SECONDS (shown on the
 * VM page with "Hard reset now"), then hard-resets. The timers live here, on the server: closing
 * the browser changes nothing. A web restart ends such a task as `interrupted` (./recover.ts).
 */
import { randomUUID } from "node:crypto";
import type { ArgsOf, TaskInfo, TaskOp } from "../../protocol/agent";
import { OwnerName, VmName } from "../../protocol/names";
import { AgentCallError } from "../agent/client";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Actor, Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import {
  type TaskKind,
  unsafeAppendTaskLog,
  unsafeCreateTask,
  unsafeGetTaskStatus,
  unsafeRunningTaskOfVm,
  unsafeUpdateTask,
} from "../dal/tasks";
import { getVmForCaller, type VmRow } from "../dal/vms";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import type { AuditAction } from "../domain";
import { getEnv } from "../env";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "./agent-actor";
import { toActionFailure, userMessageOf } from "./agent-errors";
import { failRefusedTask, followAgentTask, publishTask } from "./agent-tasks";
import { unsafeReadProvisionFigures } from "./host-figures";
import { getHub } from "./hub";
import { provisionRefusal } from "./overcommit";
import { recoverUnfinishedTasks } from "./recover";

export const POWER_ACTIONS = ["start", "reboot", "reset", "shutdown", "poweroff"] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

const OP_OF: Record<PowerAction, TaskOp> = {
  start: "vm.start",
  reboot: "vm.reboot",
  reset: "vm.reset",
  shutdown: "vm.shutdown",
  poweroff: "vm.poweroff",
};

const FIRST_STEP: Record<TaskKind, string> = {
  provision: "creating disks and host user",
  destroy: "removing disks",
  start: "starting",
  reboot: "asking the guest to reboot (Ctrl-Alt-Del)",
  reset: "hard reset",
  shutdown: "shutting down",
  poweroff: "forcing off",
  "grow-storage": "growing storage",
  "change-owner": "moving the VM's files to the new owner",
  snapshot: "taking a live snapshot",
  restore: "restoring a snapshot",
};

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
  "removing snapshots": 20,
  "keeping snapshots": 20,
  "removing disks": 60,
  "checking the disk": 10,
  "growing the disk file": 30,
  "checking the filesystem": 50,
  "growing the filesystem": 80,
  "copying disks": 40,
  "removing the old owner's files": 85,
};

/** How long the panel waits for one agent task before giving up on it. */
const TASK_WAIT_MS = 240_000;

type Orchestration = { timers: NodeJS.Timeout[]; resetting: boolean; ended: boolean };
const g = globalThis as { __zaphodReboots?: Map<string, Orchestration>; __zaphodRecovery?: Promise<void> };
g.__zaphodReboots ??= new Map();
const reboots: Map<string, Orchestration> = g.__zaphodReboots;

/**
 * The host CLI acts while the web process runs: it must not settle the web's running tasks.
 */
export function skipTaskRecoveryInThisProcess(): void {
  g.__zaphodRecovery = Promise.resolve();
}

/** Starts the hub and, once per process, ends or re-attaches tasks a previous process left. */
export function ensureVmService(): Promise<void> {
  getHub().start();
  g.__zaphodRecovery ??= recoverUnfinishedTasks({ finishFromAgent, follow: followVmTask }).catch((e) => {
    console.error("[vms] task recovery failed:", e);
  });
  return g.__zaphodRecovery;
}

function actorOf(caller: Caller | "cli"): Actor {
  return caller === "cli" ? "cli" : { id: caller.id, username: caller.username };
}

async function log(
  taskId: string,
  ownerId: string,
  message: string,
  level: "info" | "warn" | "error" = "info",
) {
  await unsafeAppendTaskLog(taskId, message, level);
  await publishTask(taskId, ownerId);
}

async function audit(
  actor: Actor,
  action: AuditAction,
  vm: Pick<VmRow, "id" | "ownerId" | "name">,
  result: "success" | "failure",
  meta: RequestMeta | undefined,
  detail: Record<string, unknown> = {},
) {
  await recordAuditEvent({
    actor,
    action,
    result,
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, ...detail },
  });
}

/** Follows one agent task to its end: progress → the Task row's step and bar, pushed to browsers. */
function followVmTask(
  agentTaskId: string,
  webTaskId: string,
  ownerId: string,
  op: TaskOp,
  vmName: string,
): Promise<TaskInfo> {
  let lastStep = "";
  return followAgentTask({
    agentTaskId,
    op,
    vmName,
    waitMs: TASK_WAIT_MS,
    onUpdate: (task) => {
      if (!task.step || task.step === lastStep) return;
      lastStep = task.step;
      void (async () => {
        const status = await unsafeGetTaskStatus(webTaskId);
        if (status?.status !== "running") return;
        const progress = STEP_PROGRESS[task.step] ?? 50;
        await unsafeUpdateTask(webTaskId, { progress, detail: { step: task.step } });
        await publishTask(webTaskId, ownerId);
      })().catch(() => undefined);
    },
  });
}

/** Ends a Task from the agent's final TaskInfo. */
async function finishFromAgent(webTaskId: string, ownerId: string, task: TaskInfo, successText: string) {
  const current = await unsafeGetTaskStatus(webTaskId);
  if (current?.status !== "running") return;
  if (task.state === "succeeded") {
    const stage = task.result?.stage;
    const waiting = stage === "waiting-at-console";
    await unsafeUpdateTask(webTaskId, {
      status: "succeeded",
      progress: 100,
      detail: { step: waiting ? "waiting at console" : "done", resetAt: null, graceEndsAt: null },
    });
    await log(
      webTaskId,
      ownerId,
      waiting
        ? `${successText}, but the boot stopped at a prompt (${task.result?.stageDetail ?? "console"}): open the console.`
        : successText,
      waiting ? "warn" : "info",
    );
  } else {
    const { message } = userMessageOf(
      new AgentCallError(task.error?.code ?? "internal", "", task.op),
      task.op,
    );
    if (task.error) console.error(`[vms] agent task ${task.id} ${task.op} failed: ${task.error.message}`);
    await unsafeUpdateTask(webTaskId, {
      status: "failed",
      progress: 100,
      error: message,
      detail: { step: "failed", resetAt: null, graceEndsAt: null },
    });
    await log(webTaskId, ownerId, message, "error");
  }
  getHub().refresh(task.vm);
}

const SUCCESS_TEXT: Record<PowerAction, string> = {
  start: "The VM is up.",
  reboot: "The VM rebooted and is up again.",
  reset: "The VM was hard-reset and is up again.",
  shutdown: "The VM shut down cleanly.",
  poweroff: "The VM was forced off.",
};

/** Member or admin: start / reboot / reset / shutdown / poweroff one VM they may see. */
export async function requestPowerAction(
  caller: Caller,
  name: string,
  action: PowerAction,
  meta?: RequestMeta,
): Promise<{ taskId: string }> {
  await ensureVmService();
  const vm = await getVmForCaller(caller, name);
  assertPermission(caller, "vm.power");
  // "Hard reset" while our reboot counts down (or waits) is that reboot's hard reset.
  if (action === "reset") {
    const running = await unsafeRunningTaskOfVm(vm.id);
    if (running?.kind === "reboot" && reboots.has(running.id)) {
      await hardResetReboot(running.id, vm, actorOf(caller), meta);
      return { taskId: running.id };
    }
  }
  return powerAction(vm, action, actorOf(caller), meta);
}

/** The CLI's start (demo-setup): no caller, audited as "cli". */
export async function unsafePowerAction(
  vm: VmRow,
  action: PowerAction,
): Promise<{ taskId: string; done: Promise<void> }> {
  await ensureVmService();
  const { taskId } = await powerAction(vm, action, "cli", undefined);
  const done = new Promise<void>((resolve) => {
    const check = setInterval(async () => {
      const s = await unsafeGetTaskStatus(taskId);
      if (s && s.status !== "running") {
        clearInterval(check);
        resolve();
      }
    }, 500);
  });
  return { taskId, done };
}

async function powerAction(
  vm: VmRow,
  action: PowerAction,
  actor: Actor,
  meta: RequestMeta | undefined,
): Promise<{ taskId: string }> {
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running) {
    throw new ActionFailure(
      "conflict",
      `A ${running.kind} is in progress on this VM; wait for it to finish${running.kind === "reboot" ? " (or use Hard reset)" : ""}.`,
    );
  }
  const op = OP_OF[action];
  const taskId = await unsafeCreateTask({
    vmId: vm.id,
    ownerId: vm.ownerId,
    actorId: typeof actor === "string" ? null : actor.id,
    kind: action,
    step: FIRST_STEP[action],
  });
  const auditAction = op as AuditAction;
  try {
    await getAgent().call(op, { name: vm.name }, { id: taskId, actor: agentActor(actor, vm) });
  } catch (error) {
    const failure = toActionFailure(error, op);
    await failRefusedTask(taskId, vm.ownerId, failure);
    await audit(actor, auditAction, vm, "failure", meta, { taskId, error: failure.code });
    throw failure;
  }
  await audit(actor, auditAction, vm, "success", meta, { taskId });
  await log(taskId, vm.ownerId, `${actorLabel(actor)} asked to ${ACTION_TEXT[action]}.`);
  getHub().refresh(vm.name);

  if (action === "reboot") {
    await startRebootOrchestration(taskId, vm);
  } else {
    void followVmTask(taskId, taskId, vm.ownerId, op, vm.name)
      .then((task) => finishFromAgent(taskId, vm.ownerId, task, SUCCESS_TEXT[action]))
      .catch((e) => console.error("[vms] following task failed:", e));
  }
  return { taskId };
}

const ACTION_TEXT: Record<PowerAction, string> = {
  start: "start the VM",
  reboot: "reboot the VM (graceful first)",
  reset: "hard-reset the VM",
  shutdown: "shut the VM down",
  poweroff: "force the VM off",
};

function actorLabel(actor: Actor): string {
  return typeof actor === "string" ? (actor === "cli" ? "The host CLI" : "The system") : actor.username;
}

/* ------------------------------------------------------------------------------------------------
 * Reboot orchestration
 * ---------------------------------------------------------------------------------------------- */

async function startRebootOrchestration(taskId: string, vm: VmRow): Promise<void> {
  const { rebootGraceSeconds, rebootCountdownSeconds } = getEnv();
  const o: Orchestration = { timers: [], resetting: false, ended: false };
  reboots.set(taskId, o);
  // The page counts down to the end of the grace ("hard reset offered in 1:12"); written before
  // the agent's progress is followed, so the two updates of the task's detail cannot cross.
  const graceEndsAt = new Date(Date.now() + rebootGraceSeconds * 1000).toISOString();
  await unsafeUpdateTask(taskId, { detail: { graceEndsAt } });
  await publishTask(taskId, vm.ownerId);
  const end = () => {
    o.ended = true;
    for (const t of o.timers) clearTimeout(t);
    reboots.delete(taskId);
  };

  const graceTimer = setTimeout(() => {
    if (o.ended || o.resetting) return;
    void (async () => {
      const resetAt = new Date(Date.now() + rebootCountdownSeconds * 1000).toISOString();
      await unsafeUpdateTask(taskId, {
        progress: 60,
        detail: { step: "not back yet: counting down to a hard reset", resetAt, graceEndsAt: null },
      });
      await log(
        taskId,
        vm.ownerId,
        `The VM is not back after ${rebootGraceSeconds} s; hard reset in ${rebootCountdownSeconds} s unless it comes up.`,
        "warn",
      );
      const countdown = setTimeout(() => {
        if (o.ended || o.resetting) return;
        void hardResetReboot(taskId, vm, "system", undefined).catch((e) =>
          console.error("[vms] automatic hard reset failed:", e),
        );
      }, rebootCountdownSeconds * 1000);
      countdown.unref?.();
      o.timers.push(countdown);
    })().catch((e) => console.error("[vms] reboot countdown failed:", e));
  }, rebootGraceSeconds * 1000);
  graceTimer.unref?.();
  o.timers.push(graceTimer);

  void followVmTask(taskId, taskId, vm.ownerId, "vm.reboot", vm.name).then(async (task) => {
    if (o.ended || o.resetting) return;
    if (task.state === "succeeded") {
      end();
      await finishFromAgent(taskId, vm.ownerId, task, SUCCESS_TEXT.reboot);
      return;
    }
    // The graceful way failed: if the VM is gone, so is the task; otherwise the countdown decides.
    const status = await getAgent()
      .call("vm.status", { name: vm.name })
      .catch(() => null);
    if (status?.state !== "running") {
      end();
      await finishFromAgent(taskId, vm.ownerId, task, SUCCESS_TEXT.reboot);
    } else {
      await log(
        taskId,
        vm.ownerId,
        "The graceful reboot did not complete; waiting for the hard reset.",
        "warn",
      );
    }
  });
}

/** Hard reset of a reboot in progress: now (a click) or at the end of the countdown (the system). */
async function hardResetReboot(taskId: string, vm: VmRow, actor: Actor, meta: RequestMeta | undefined) {
  const o = reboots.get(taskId);
  if (!o || o.ended || o.resetting) return;
  o.resetting = true;
  for (const t of o.timers) clearTimeout(t);
  await unsafeUpdateTask(taskId, {
    progress: 70,
    detail: { step: "hard reset", resetAt: null, graceEndsAt: null, hardReset: true },
  });
  await log(
    taskId,
    vm.ownerId,
    actor === "system"
      ? "Countdown over: hard reset (sync, then reset)."
      : `${actorLabel(actor)} asked for a hard reset now.`,
    "warn",
  );
  const resetId = randomUUID();
  try {
    await getAgent().call("vm.reset", { name: vm.name }, { id: resetId, actor: agentActor(actor, vm) });
    await audit(actor, "vm.reset", vm, "success", meta, { taskId, agentTaskId: resetId, during: "reboot" });
  } catch (error) {
    const failure = toActionFailure(error, "vm.reset");
    await audit(actor, "vm.reset", vm, "failure", meta, { taskId, error: failure.code, during: "reboot" });
    o.ended = true;
    reboots.delete(taskId);
    await unsafeUpdateTask(taskId, {
      status: "failed",
      progress: 100,
      error: failure.message,
      detail: { step: "failed" },
    });
    await log(taskId, vm.ownerId, failure.message, "error");
    return;
  }
  const task = await followVmTask(resetId, taskId, vm.ownerId, "vm.reset", vm.name);
  o.ended = true;
  reboots.delete(taskId);
  await finishFromAgent(taskId, vm.ownerId, task, "The VM was hard-reset and is up again.");
}

/* ------------------------------------------------------------------------------------------------
 * Provisioning (admin, CLI)
 * ---------------------------------------------------------------------------------------------- */

export type ProvisionInput = {
  ownerId: string;
  name: string;
  image: string;
  memoryMiB: number;
  storageGiB: number;
  swapMiB: number;
  autostart: boolean;
  startNow: boolean;
  /** Overcommit the host (RAM + swap, free disk) within the hard ceiling; the CLI always may. */
  confirmOvercommit?: boolean;
};

export async function provisionVm(
  caller: Caller,
  input: ProvisionInput,
  meta?: RequestMeta,
): Promise<{ taskId: string; name: string }> {
  assertPermission(caller, "vm.provision");
  return provision(actorOf(caller), input, meta);
}

export async function unsafeProvisionVm(input: ProvisionInput): Promise<{ taskId: string; name: string }> {
  return provision("cli", input, undefined);
}

async function provision(actor: Actor, input: ProvisionInput, meta: RequestMeta | undefined) {
  await ensureVmService();
  const db = getDb();
  const owner = await db.user.findUnique({
    where: { id: input.ownerId },
    select: { id: true, username: true, status: true },
  });
  if (owner?.status !== "active")
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      ownerId: "Choose an active account",
    });
  if (!OwnerName.safeParse(owner.username).success)
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      ownerId: "This username is too long to own a VM (at most 24 characters)",
    });
  if (!VmName.safeParse(input.name).success)
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      name: "3–32 characters: lowercase letters, digits and dashes; start with a letter",
    });
  if (await db.vm.findUnique({ where: { name: input.name }, select: { id: true } }))
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      name: "A VM with this name exists",
    });
  // Never beyond the host's hard ceiling; overcommit only when the admin confirmed it.
  const figures = await unsafeReadProvisionFigures(input.image);
  if (figures) {
    const refusal = provisionRefusal(
      figures.overcommit,
      { ...input, imageBytes: figures.imageBytes },
      input.confirmOvercommit === true || actor === "cli",
    );
    if (refusal)
      throw new ActionFailure(
        "invalid",
        refusal.confirmOvercommit
          ? "The host would be overcommitted: confirm below to provision anyway."
          : "Please check the highlighted fields.",
        refusal,
      );
  }

  const vm: VmRow = {
    id: newId(),
    name: input.name,
    ownerId: owner.id,
    ownerUsername: owner.username,
    image: input.image,
    memoryMiB: input.memoryMiB,
    storageGiB: input.storageGiB,
    swapMiB: input.swapMiB,
    autostart: input.autostart,
    createdAt: new Date(),
  };
  await db.vm.create({
    data: {
      id: vm.id,
      name: vm.name,
      ownerId: vm.ownerId,
      image: vm.image,
      memoryMiB: vm.memoryMiB,
      storageGiB: vm.storageGiB,
      swapMiB: vm.swapMiB,
      autostart: vm.autostart,
    },
  });
  getHub().forgetOwner(vm.name);
  const taskId = await unsafeCreateTask({
    vmId: vm.id,
    ownerId: vm.ownerId,
    actorId: typeof actor === "string" ? null : actor.id,
    kind: "provision",
    step: FIRST_STEP.provision,
  });
  const detail = {
    taskId,
    owner: owner.username,
    image: vm.image,
    memoryMiB: vm.memoryMiB,
    storageGiB: vm.storageGiB,
    swapMiB: vm.swapMiB,
    autostart: vm.autostart,
  };
  try {
    await getAgent().call(
      "vm.create",
      {
        name: vm.name,
        owner: owner.username,
        image: vm.image,
        memoryMiB: vm.memoryMiB,
        storageGiB: vm.storageGiB,
        swapMiB: vm.swapMiB,
        autostart: vm.autostart,
      },
      { id: taskId, actor: agentActor(actor, vm) },
    );
  } catch (error) {
    const failure = toActionFailure(error, "vm.create");
    await audit(actor, "vm.provision", vm, "failure", meta, { ...detail, error: failure.code });
    await db.vm.delete({ where: { id: vm.id } });
    await unsafeUpdateTask(taskId, {
      status: "failed",
      progress: 100,
      error: failure.message,
      detail: { step: "refused" },
    });
    await unsafeAppendTaskLog(taskId, failure.message, "error");
    if ((error as { code?: unknown }).code === "not-found")
      throw new ActionFailure("invalid", "Please check the highlighted fields.", {
        image: "No such image on the host",
      });
    throw failure;
  }
  await audit(actor, "vm.provision", vm, "success", meta, detail);
  await log(taskId, vm.ownerId, `${actorLabel(actor)} provisions ${vm.name} for ${owner.username}.`);

  void (async () => {
    const created = await followVmTask(taskId, taskId, vm.ownerId, "vm.create", vm.name);
    if (created.state !== "succeeded" || !input.startNow) {
      await finishFromAgent(taskId, vm.ownerId, created, "The VM is provisioned (stopped).");
      if (created.state !== "succeeded") await db.vm.delete({ where: { id: vm.id } }).catch(() => undefined);
      return;
    }
    await unsafeUpdateTask(taskId, { progress: 50, detail: { step: "starting" } });
    await log(taskId, vm.ownerId, "Disks ready; starting the VM.");
    const startId = randomUUID();
    try {
      await getAgent().call("vm.start", { name: vm.name }, { id: startId, actor: agentActor(actor, vm) });
    } catch (error) {
      const failure = toActionFailure(error, "vm.start");
      await unsafeUpdateTask(taskId, {
        status: "failed",
        progress: 100,
        error: failure.message,
        detail: { step: "failed" },
      });
      await log(taskId, vm.ownerId, failure.message, "error");
      return;
    }
    await audit(actor, "vm.start", vm, "success", meta, {
      taskId,
      agentTaskId: startId,
      during: "provision",
    });
    const started = await followVmTask(startId, taskId, vm.ownerId, "vm.start", vm.name);
    await finishFromAgent(taskId, vm.ownerId, started, "The VM is provisioned and up.");
  })().catch((e) => console.error("[vms] provisioning failed:", e));

  return { taskId, name: vm.name };
}

/**
 * Admin: destroy a stopped VM (disks included); `confirm` must repeat the name. Its snapshots are
 * deleted, or kept on the host (moved aside by the agent) when `keepSnapshots`.
 */
export async function destroyVm(
  caller: Caller,
  name: string,
  confirm: string,
  meta?: RequestMeta,
  options: { keepSnapshots?: boolean } = {},
) {
  assertPermission(caller, "vm.destroy");
  await ensureVmService();
  const vm = await getVmForCaller(caller, name);
  if (confirm !== vm.name)
    throw new ActionFailure("invalid", "Please check the highlighted fields.", {
      confirm: "Type the VM's name",
    });
  const keepSnapshots = options.keepSnapshots ?? false;
  const { taskId, task } = await runVmTaskVerb({
    actor: actorOf(caller),
    vm,
    kind: "destroy",
    op: "vm.destroy",
    args: { name: vm.name, confirm: vm.name, keepSnapshots },
    auditAction: "vm.destroy",
    detail: { keepSnapshots },
    meta,
    successText: keepSnapshots
      ? `${vm.name} was destroyed; its snapshots are kept on the host.`
      : `${vm.name} was destroyed with its snapshots.`,
  });
  if (task.state === "succeeded") {
    await getDb().vm.delete({ where: { id: vm.id } });
    getHub().forgetOwner(vm.name);
  }
  return { taskId, ok: task.state === "succeeded" };
}

/**
 * One agent task verb on a VM as a Task row, for the admin's management verbs: refused → a failed
 * row, an audit failure and the thrown failure; accepted → audited, followed to its end, and ended
 * like every other VM task. Resolves with the agent's final task.
 */
export async function runVmTaskVerb<O extends "vm.destroy" | "vm.growStorage" | "vm.setOwner">(input: {
  actor: Actor;
  vm: VmRow;
  kind: TaskKind;
  op: O;
  args: ArgsOf<O>;
  auditAction: AuditAction;
  detail?: Record<string, unknown>;
  meta?: RequestMeta;
  successText: string;
  /** Who sees the task in their history (default: the VM's owner). */
  taskOwnerId?: string;
}): Promise<{ taskId: string; task: TaskInfo }> {
  await ensureVmService();
  const { actor, vm, op, meta } = input;
  const ownerId = input.taskOwnerId ?? vm.ownerId;
  const running = await unsafeRunningTaskOfVm(vm.id);
  if (running) throw new ActionFailure("conflict", `A ${running.kind} is in progress on this VM.`);
  const taskId = await unsafeCreateTask({
    vmId: vm.id,
    ownerId,
    actorId: typeof actor === "string" ? null : actor.id,
    kind: input.kind,
    step: FIRST_STEP[input.kind],
  });
  try {
    await getAgent().call(op, input.args, { id: taskId, actor: agentActor(actor, vm) });
  } catch (error) {
    const failure = toActionFailure(error, op);
    await failRefusedTask(taskId, ownerId, failure);
    await audit(actor, input.auditAction, vm, "failure", meta, {
      taskId,
      ...input.detail,
      error: failure.code,
    });
    throw failure;
  }
  await audit(actor, input.auditAction, vm, "success", meta, { taskId, ...input.detail });
  const task = await followVmTask(taskId, taskId, ownerId, op, vm.name);
  await finishFromAgent(taskId, ownerId, task, input.successText);
  return { taskId, task };
}
