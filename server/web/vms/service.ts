import "server-only";
/**
 * The VM service: every server action, route handler and CLI command that acts on a VM comes
 * through here, for the VM's own rules: the scoped lookup with the access rule (someone else's VM
 * = a missing VM = not-found; a VM one sees but may not act on = forbidden), the permission from
 * the table, the checks of provisioning and destroy. The long work itself is a task of the one
 * pipeline (../tasks/pipeline.ts): Task row, audit, agent, progress, end, recovery.
 *
 * Reboot: the agent holds the whole fallback (Ctrl-Alt-Del, ZAPHOD_REBOOT_GRACE_SECONDS for the
 * guest, a ZAPHOD_REBOOT_COUNTDOWN_SECONDS countdown, then a hard reset) as one task whose stages
 * the row mirrors; "Hard reset now" is a `vm.reset`, which the agent makes that reboot's hard
 * reset. Closing the browser or restarting the web tier changes nothing.
 */
import type { TaskInfo } from "../../protocol/agent";
import { OwnerName, VmName } from "../../protocol/names";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Actor, Caller } from "../dal/caller";
import { unsafeListHosts } from "../dal/hosts";
import { unsafeGetTaskStatus, unsafeRunningTaskOfVm, unsafeUpdateTask } from "../dal/tasks";
import { getVmForCaller, type VmRow } from "../dal/vms";
import { getDb } from "../db/client";
import { newId } from "../db/ids";
import type { AuditAction } from "../domain";
import { getEnv } from "../env";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { actorLabel, actorOf, auditVm, ensureTaskPipeline, logTask, startTask } from "../tasks/pipeline";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";
import { unsafePickHost, unsafeReadProvisionFigures } from "./host-figures";
import { getHub } from "./hub";
import { unsafeAllocateVmAddress } from "./network";
import { provisionRefusal } from "./overcommit";
import { assertVmQuota } from "./quota";

export const POWER_ACTIONS = ["start", "reboot", "reset", "shutdown", "poweroff"] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

const ACTION_TEXT: Record<PowerAction, string> = {
  start: "start the VM",
  reboot: "reboot the VM (graceful first)",
  reset: "hard-reset the VM",
  shutdown: "shut the VM down",
  poweroff: "force the VM off",
};

const AUDIT_OF: Record<PowerAction, AuditAction> = {
  start: "vm.start",
  reboot: "vm.reboot",
  reset: "vm.reset",
  shutdown: "vm.shutdown",
  poweroff: "vm.poweroff",
};

/** Member or admin: start / reboot / reset / shutdown / poweroff a VM they may power (access rule). */
export async function requestPowerAction(
  caller: Caller,
  name: string,
  action: PowerAction,
  meta?: RequestMeta,
): Promise<{ taskId: string }> {
  await ensureTaskPipeline();
  // The access rule: vm.power on one's own VM, vm.power.any on another's (which one must see).
  const vm = await getVmForCaller(caller, name, "power");
  // "Hard reset" while a reboot runs is that reboot's hard reset (the agent's, at once).
  if (action === "reset") {
    const running = await unsafeRunningTaskOfVm(vm.id);
    if (running?.kind === "reboot") return hardResetReboot(running.id, vm, actorOf(caller), meta);
  }
  const { taskId } = await powerAction(vm, action, actorOf(caller), meta);
  return { taskId };
}

/** The CLI's start (demo-setup): no caller, audited as "cli". */
export async function unsafePowerAction(
  vm: VmRow,
  action: PowerAction,
): Promise<{ taskId: string; done: Promise<void> }> {
  const { taskId, done } = await powerAction(vm, action, "cli", undefined);
  return { taskId, done: done.then(() => undefined) };
}

async function powerAction(vm: VmRow, action: PowerAction, actor: Actor, meta: RequestMeta | undefined) {
  const vmRef = { id: vm.id, name: vm.name, ownerId: vm.ownerId };
  const common = {
    kind: action,
    vm: vmRef,
    actor,
    audit: { action: AUDIT_OF[action], meta },
    acceptedText: `${actorLabel(actor)} asked to ${ACTION_TEXT[action]}.`,
  };
  if (action !== "reboot") return startTask({ ...common, args: { name: vm.name } });
  const { rebootGraceSeconds: graceSeconds, rebootCountdownSeconds: countdownSeconds } = getEnv();
  return startTask({
    ...common,
    args: { name: vm.name, graceSeconds, countdownSeconds },
    data: { graceSeconds, countdownSeconds },
    // Shown at once; the agent's own end of the grace replaces it with its first report.
    detail: { graceEndsAt: new Date(Date.now() + graceSeconds * 1000).toISOString() },
  });
}

/** "Hard reset now" during a reboot: the agent resets at once, and the same task goes on. */
async function hardResetReboot(
  taskId: string,
  vm: VmRow,
  actor: Actor,
  meta: RequestMeta | undefined,
): Promise<{ taskId: string }> {
  let reply: { task: TaskInfo };
  try {
    reply = await getAgent().call("vm.reset", { name: vm.name }, { actor: agentActor(actor, vm) });
  } catch (error) {
    const failure = toActionFailure(error, "vm.reset");
    await auditVm(actor, "vm.reset", vm, "failure", meta, { taskId, error: failure.code, during: "reboot" });
    throw failure;
  }
  const ref = { taskId, ownerId: vm.ownerId };
  if ((await unsafeGetTaskStatus(taskId))?.status === "running") {
    await unsafeUpdateTask(taskId, {
      progress: 70,
      detail: { step: "hard reset", resetAt: null, graceEndsAt: null, hardReset: true },
    });
    await logTask(ref, `${actorLabel(actor)} asked for a hard reset now.`, "warn");
  }
  await auditVm(actor, "vm.reset", vm, "success", meta, {
    taskId,
    agentTaskId: reply.task.id,
    during: "reboot",
  });
  getHub().refresh(vm.name);
  return { taskId };
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
  /** "local" or a joined host; unset or "auto": the host with the most headroom. */
  host?: string;
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

const invalid = (field: string, message: string) =>
  new ActionFailure("invalid", "Please check the highlighted fields.", { [field]: message });

async function provision(actor: Actor, input: ProvisionInput, meta: RequestMeta | undefined) {
  await ensureTaskPipeline();
  const db = getDb();
  const owner = await db.user.findUnique({
    where: { id: input.ownerId },
    select: { id: true, username: true, status: true },
  });
  if (owner?.status !== "active") throw invalid("ownerId", "Choose an active account");
  if (!OwnerName.safeParse(owner.username).success)
    throw invalid("ownerId", "This username is too long to own a VM (at most 24 characters)");
  if (!VmName.safeParse(input.name).success)
    throw invalid("name", "3–32 characters: lowercase letters, digits and dashes; start with a letter");
  if (await db.vm.findUnique({ where: { name: input.name }, select: { id: true } }))
    throw invalid("name", "A VM with this name exists");
  // The member's VM quota (the host CLI, root on the host, is not held to it).
  if (actor !== "cli")
    await assertVmQuota(owner, { count: 1, memoryMiB: input.memoryMiB, storageGiB: input.storageGiB });
  const host = await placement(input.host);
  // Never beyond the host's hard ceiling; overcommit only when the admin confirmed it.
  const figures = await unsafeReadProvisionFigures(input.image, host);
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

  const spec = {
    image: input.image,
    memoryMiB: input.memoryMiB,
    storageGiB: input.storageGiB,
    swapMiB: input.swapMiB,
    autostart: input.autostart,
  };
  const vm = { id: newId(), name: input.name, ownerId: owner.id };
  const ipv4 = await createVmRowWithAddress(vm, spec, host);
  getHub().forgetOwner(vm.name);
  const address = ipv4 === null ? {} : { ipv4 };
  const { taskId } = await startTask({
    kind: "provision",
    vm,
    actor,
    args: { name: vm.name, owner: owner.username, ...spec, ...address },
    audit: { action: "vm.provision", detail: { owner: owner.username, ...spec, ...address }, meta },
    acceptedText: `${actorLabel(actor)} provisions ${vm.name} for ${owner.username}.`,
    data: { startNow: input.startNow },
    refusal: (failure, error) =>
      (error as { code?: unknown }).code === "not-found"
        ? invalid("image", "No such image on the host")
        : failure,
  });
  return { taskId, name: vm.name };
}

/** The host a new VM goes to: the one named (local or joined), else the most headroom. */
async function placement(wanted: string | undefined): Promise<string> {
  const joined = (await unsafeListHosts()).filter((h) => h.state === "joined").map((h) => h.name);
  if (wanted && wanted !== "auto") {
    if (wanted !== "local" && !joined.includes(wanted))
      throw invalid("host", "No such host (or it has not joined yet)");
    return wanted;
  }
  return unsafePickHost(["local", ...joined]);
}

/**
 * The VM's row with the lowest free address of the host network's pool (none when the host has no
 * network). `Vm.ip` is unique: a provisioning that took the same address at the same moment makes
 * this one pick again.
 */
async function createVmRowWithAddress(
  vm: { id: string; name: string; ownerId: string },
  spec: { image: string; memoryMiB: number; storageGiB: number; swapMiB: number; autostart: boolean },
  host: string,
): Promise<string | null> {
  for (let attempt = 1; ; attempt++) {
    // From the pool of the VM's own host (none when that host has no network).
    const ip = await unsafeAllocateVmAddress(host);
    try {
      await getDb().vm.create({ data: { ...vm, ...spec, ip, host } });
      return ip;
    } catch (error) {
      const target = JSON.stringify((error as { meta?: unknown }).meta ?? "");
      const ipTaken = (error as { code?: unknown }).code === "P2002" && target.includes("ip");
      if (!ipTaken || attempt >= 5) throw error;
    }
  }
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
  await ensureTaskPipeline();
  const vm = await getVmForCaller(caller, name);
  if (confirm !== vm.name) throw invalid("confirm", "Type the VM's name");
  const keepSnapshots = options.keepSnapshots ?? false;
  const { taskId, done } = await startTask({
    kind: "destroy",
    vm,
    actor: actorOf(caller),
    args: { name: vm.name, confirm: vm.name, keepSnapshots },
    audit: { action: "vm.destroy", detail: { keepSnapshots }, meta },
    data: { keepSnapshots },
  });
  const task = await done;
  return { taskId, ok: task.state === "succeeded" };
}
