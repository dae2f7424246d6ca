import "server-only";
/**
 * The admin's side of the host's free-space reserve (issue 11 point 3; the agent keeps it, see
 * server/agent/disk-space.ts): set the reserve, resume a VM the agent paused for disk space.
 */
import type { DiskReserveSetting } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getVmForCaller } from "../dal/vms";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";
import { getHub } from "./hub";

export async function setDiskReserve(caller: Caller, reserve: DiskReserveSetting, meta?: RequestMeta) {
  assertPermission(caller, "host.configure");
  let reserveBytes: number;
  try {
    reserveBytes = (await getAgent().call("host.setDiskReserve", { reserve })).dataDiskReserveBytes;
  } catch (error) {
    const failure = toActionFailure(error, "host.setDiskReserve");
    await recordAuditEvent({
      actor: { id: caller.id, username: caller.username },
      action: "host.disk_reserve",
      result: "failure",
      meta,
      detail: { ...reserve, error: failure.code },
    });
    throw failure;
  }
  await recordAuditEvent({
    actor: { id: caller.id, username: caller.username },
    action: "host.disk_reserve",
    result: "success",
    meta,
    detail: { ...reserve, reserveBytes },
  });
  return { reserveBytes };
}

/** Resumes a VM the host paused for disk space; if it keeps writing below the reserve, the host pauses it again. */
export async function resumeVmPausedForSpace(caller: Caller, name: string, meta?: RequestMeta) {
  assertPermission(caller, "host.configure");
  const vm = await getVmForCaller(caller, name);
  const audit = (result: "success" | "failure", detail: Record<string, unknown>) =>
    recordAuditEvent({
      actor: { id: caller.id, username: caller.username },
      action: "vm.resume",
      result,
      vmId: vm.id,
      targetUserId: vm.ownerId,
      meta,
      detail: { vm: vm.name, ...detail },
    });
  try {
    await getAgent().call("vm.resume", { name: vm.name }, { actor: agentActor(caller, vm) });
  } catch (error) {
    const failure = toActionFailure(error, "vm.resume");
    await audit("failure", { error: failure.code });
    throw failure;
  }
  await audit("success", {});
  getHub().refresh(vm.name);
  return { resumed: true };
}

/** How many boots' console logs each VM on `host` keeps (issue 14 point 6); the agent keeps it. */
export async function setBootLogRetention(caller: Caller, host: string, keep: number, meta?: RequestMeta) {
  assertPermission(caller, "host.configure");
  let kept: number;
  try {
    kept = (await getAgent().forHost(host).call("host.setBootLogRetention", { keep })).keep;
  } catch (error) {
    throw toActionFailure(error, "host.setBootLogRetention");
  }
  await recordAuditEvent({
    actor: { id: caller.id, username: caller.username },
    action: "host.boot_logs",
    result: "success",
    meta,
    detail: { host, keep: kept },
  });
  return { keep: kept };
}
