import "server-only";
/**
 * The admin's management of an existing VM (issue 9 point 8): memory for the next boot,
 * autostart, offline storage growth, owner change — and deleting an account with its VMs deleted
 * or handed over. Each checks its permission from the table, goes through the scoped lookup,
 * audits with the VM named, and keeps the web tier's row in step with the agent.
 */
import { AGENT_LIMITS } from "../../protocol/agent";
import { OwnerName } from "../../protocol/names";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { unsafeDeleteAccountRow } from "../dal/delete-account";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getVmForCaller, type VmRow } from "../dal/vms";
import { getDb } from "../db/client";
import type { AuditAction } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { ensureTaskPipeline, startTask } from "../tasks/pipeline";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";
import { getHub } from "./hub";
import { assertVmQuota } from "./quota";
import { destroyVm } from "./service";

const invalid = (field: string, message: string) =>
  new ActionFailure("invalid", "Please check the highlighted fields.", { [field]: message });

async function auditVm(
  caller: Caller,
  action: AuditAction,
  vm: Pick<VmRow, "id" | "ownerId" | "name">,
  result: "success" | "failure",
  meta: RequestMeta | undefined,
  detail: Record<string, unknown>,
) {
  await recordAuditEvent({
    actor: { id: caller.id, username: caller.username },
    action,
    result,
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, ...detail },
  });
}

/** Memory for the next boot (a running VM keeps what it booted with). */
export async function setVmMemory(caller: Caller, name: string, memoryMiB: number, meta?: RequestMeta) {
  assertPermission(caller, "vm.configure");
  await ensureTaskPipeline();
  const vm = await getVmForCaller(caller, name);
  const { min, max } = AGENT_LIMITS.memoryMiB;
  if (!Number.isInteger(memoryMiB) || memoryMiB < min || memoryMiB > max)
    throw invalid("memoryMiB", `${min}–${max} MiB`);
  if (memoryMiB === vm.memoryMiB) return { memoryMiB };
  if (memoryMiB > vm.memoryMiB)
    await assertVmQuota(
      { id: vm.ownerId, username: vm.ownerUsername },
      { memoryMiB: memoryMiB - vm.memoryMiB },
    );
  try {
    await getAgent().call("vm.setMemory", { name: vm.name, memoryMiB }, { actor: agentActor(caller, vm) });
  } catch (error) {
    const failure = toActionFailure(error, "vm.setMemory");
    await auditVm(caller, "vm.memory", vm, "failure", meta, { memoryMiB, error: failure.code });
    throw failure;
  }
  await getDb().vm.update({ where: { id: vm.id }, data: { memoryMiB } });
  await auditVm(caller, "vm.memory", vm, "success", meta, { from: vm.memoryMiB, to: memoryMiB });
  getHub().refresh(vm.name);
  return { memoryMiB };
}

/** Whether the VM starts when the host (agent) starts. */
export async function setVmAutostart(caller: Caller, name: string, autostart: boolean, meta?: RequestMeta) {
  assertPermission(caller, "vm.configure");
  await ensureTaskPipeline();
  const vm = await getVmForCaller(caller, name);
  try {
    await getAgent().call("vm.setAutostart", { name: vm.name, autostart }, { actor: agentActor(caller, vm) });
  } catch (error) {
    const failure = toActionFailure(error, "vm.setAutostart");
    await auditVm(caller, "vm.autostart", vm, "failure", meta, { autostart, error: failure.code });
    throw failure;
  }
  await getDb().vm.update({ where: { id: vm.id }, data: { autostart } });
  await auditVm(caller, "vm.autostart", vm, "success", meta, { autostart });
  return { autostart };
}

/** Offline storage growth (the VM must be stopped); a task in the VM's history. */
export async function growVmStorage(caller: Caller, name: string, storageGiB: number, meta?: RequestMeta) {
  assertPermission(caller, "vm.configure");
  const vm = await getVmForCaller(caller, name);
  if (!Number.isInteger(storageGiB) || storageGiB > AGENT_LIMITS.storageGiB.max)
    throw invalid("storageGiB", `A whole number of GiB, at most ${AGENT_LIMITS.storageGiB.max}`);
  if (storageGiB <= vm.storageGiB)
    throw invalid("storageGiB", `Storage only grows: more than today's ${vm.storageGiB} GiB`);
  await assertVmQuota(
    { id: vm.ownerId, username: vm.ownerUsername },
    { storageGiB: storageGiB - vm.storageGiB },
  );
  const { taskId, done } = await startTask({
    kind: "grow-storage",
    vm,
    actor: { id: caller.id, username: caller.username },
    args: { name: vm.name, storageGiB },
    audit: { action: "vm.storage", detail: { from: vm.storageGiB, to: storageGiB }, meta },
    data: { from: vm.storageGiB, to: storageGiB },
  });
  const task = await done;
  return { taskId, ok: task.state === "succeeded" };
}

/** An active account that may own a VM, or a field error. */
async function activeOwnerOrThrow(ownerId: string, field: string) {
  const owner = await getDb().user.findUnique({
    where: { id: ownerId },
    select: { id: true, username: true, status: true },
  });
  if (owner?.status !== "active") throw invalid(field, "Choose an active account");
  if (!OwnerName.safeParse(owner.username).success)
    throw invalid(field, "This username is too long to own a VM (at most 24 characters)");
  return owner;
}

/** Offline owner change (the VM must be stopped): its files move to the new owner's host user. */
export async function changeVmOwner(caller: Caller, name: string, ownerId: string, meta?: RequestMeta) {
  assertPermission(caller, "vm.configure");
  const vm = await getVmForCaller(caller, name);
  const owner = await activeOwnerOrThrow(ownerId, "ownerId");
  if (owner.id === vm.ownerId) throw invalid("ownerId", `${vm.name} already belongs to ${owner.username}`);
  return moveVm(caller, vm, owner, meta);
}

async function moveVm(
  caller: Caller,
  vm: VmRow,
  owner: { id: string; username: string },
  meta: RequestMeta | undefined,
) {
  // The VM counts against its new owner's quota (a handover at an account's deletion too).
  await assertVmQuota(owner, { count: 1, memoryMiB: vm.memoryMiB, storageGiB: vm.storageGiB });
  const { taskId, done } = await startTask({
    kind: "change-owner",
    vm,
    actor: { id: caller.id, username: caller.username },
    args: { name: vm.name, owner: owner.username },
    audit: { action: "vm.owner", detail: { from: vm.ownerUsername, to: owner.username }, meta },
    data: { to: owner.username, toId: owner.id },
    taskOwnerId: owner.id,
  });
  const task = await done;
  return { taskId, ok: task.state === "succeeded" };
}

export type DeleteAccountInput = {
  userId: string;
  /** Typed username, as for a VM's destroy. */
  confirm: string;
  /** The account's VMs: destroyed with their snapshots, or handed to another active account. */
  vms: "delete" | "transfer";
  transferToId?: string;
};

/**
 * Deletes a rejected or suspended member's account: its VMs are destroyed (snapshots too) or handed
 * over to another account first, then the agent removes the host user, then the row goes (its
 * tasks with it; audit events keep their text).
 */
export async function deleteAccount(caller: Caller, input: DeleteAccountInput, meta?: RequestMeta) {
  assertPermission(caller, "accounts.delete");
  await ensureTaskPipeline();
  const db = getDb();
  const user = await db.user.findUnique({
    where: { id: input.userId },
    select: { id: true, username: true, role: true, status: true },
  });
  if (!user) throw new ActionFailure("not-found", "No such account.");
  if (user.id === caller.id || user.role !== "member")
    throw new ActionFailure("forbidden", "Only members' accounts can be deleted.");
  if (user.status !== "rejected" && user.status !== "suspended")
    throw new ActionFailure(
      "conflict",
      "Only rejected or suspended accounts can be deleted: suspend it first.",
    );
  if (input.confirm !== user.username) throw invalid("confirm", "Type the account's username");
  const vms = await db.vm.findMany({
    where: { ownerId: user.id },
    select: { name: true },
    orderBy: { name: "asc" },
  });
  const rows = await Promise.all(vms.map((v) => getVmForCaller(caller, v.name)));
  let target: { id: string; username: string } | null = null;
  if (rows.length > 0 && input.vms === "transfer") {
    target = await activeOwnerOrThrow(input.transferToId ?? "", "transferToId");
    if (target.id === user.id) throw invalid("transferToId", "Choose another account");
  }
  // Every VM must be stopped before anything is changed (destroy and owner change are offline).
  const running: string[] = [];
  for (const vm of rows) {
    const status = await getAgent()
      .call("vm.status", { name: vm.name })
      .catch(() => null);
    if (status && status.pid !== null) running.push(vm.name);
  }
  if (running.length > 0)
    throw new ActionFailure(
      "conflict",
      `Shut down ${running.join(", ")} first: VMs are deleted or handed over only when stopped.`,
    );
  for (const vm of rows) {
    const res = target
      ? await moveVm(caller, vm, target, meta)
      : await destroyVm(caller, vm.name, vm.name, meta, { keepSnapshots: false });
    if (!res.ok)
      throw new ActionFailure(
        "internal",
        `${vm.name} could not be ${target ? "handed over" : "destroyed"}; the account is kept. See the VM's history.`,
      );
  }
  if (OwnerName.safeParse(user.username).success) {
    await getAgent()
      .call("owner.remove", { owner: user.username })
      .catch((error) => {
        throw toActionFailure(error, "owner.remove");
      });
  }
  await unsafeDeleteAccountRow(user.id);
  await recordAuditEvent({
    actor: { id: caller.id, username: caller.username },
    action: "account.delete",
    result: "success",
    meta,
    detail: {
      username: user.username,
      status: user.status,
      vms: rows.map((v) => v.name),
      data: rows.length === 0 ? "none" : target ? `handed to ${target.username}` : "deleted",
    },
  });
  return { deleted: user.username };
}
