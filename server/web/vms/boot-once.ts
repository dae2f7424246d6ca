import "server-only";
/**
 * One-shot boot options from the VM page (issue 14 point 1): the member (their own VM) or an
 * admin picks a single-user shell, no storage disk, or the storage disk read-only for the next
 * start; the agent keeps it (server/agent/boot-once.ts), applies it to that boot only and lets it
 * lapse after an hour unused. Needs `vm.power` on the VM (the same rule as Start).
 */
import type { BootOnceMode, BootOncePending } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getVmForCaller } from "../dal/vms";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";
import { getHub } from "./hub";

export type VmBootOnceView = { pending: BootOncePending | null; booted: BootOnceMode | null };

/** What is set for the next start and what the running boot was started with; null: agent unreachable. */
export async function getVmBootOnce(caller: Caller, name: string): Promise<VmBootOnceView | null> {
  const vm = await getVmForCaller(caller, name);
  try {
    const status = await getAgent().call("vm.status", { name: vm.name }, { actor: agentActor(caller, vm) });
    return { pending: status.bootOnce ?? null, booted: status.bootedOnce ?? null };
  } catch {
    return null;
  }
}

export async function setVmBootOnce(
  caller: Caller,
  name: string,
  mode: BootOnceMode | null,
  meta?: RequestMeta,
): Promise<{ bootOnce: BootOncePending | null }> {
  const vm = await getVmForCaller(caller, name, "power");
  let result: { bootOnce: BootOncePending | null };
  try {
    result = await getAgent().call(
      "vm.setBootOnce",
      { name: vm.name, mode },
      { actor: agentActor(caller, vm) },
    );
  } catch (error) {
    throw toActionFailure(error, "vm.setBootOnce");
  }
  await recordAuditEvent({
    actor: { id: caller.id, username: caller.username },
    action: "vm.boot_once",
    result: "success",
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, mode },
  });
  getHub().refresh(vm.name);
  return result;
}
