import "server-only";
/**
 * The web tier of the host network (issue 12): addresses allocated at provisioning, the VM page's
 * Network section, and the admin's settings, port forwards, VM addresses and rate limits. The
 * agent keeps the network (`<data>/network.json`, the bridge, the rules); the web tier keeps each
 * VM's address in `Vm.ip` too (unique), so that two provisionings at once cannot pick the same one.
 *
 * An agent without networking (not configured, or not built yet) refuses the network verbs with
 * invalid-request "networking is off" / "… not built …": that is "no network", never an error.
 * Refusals of the admin's own input (an address outside the pool, a port taken) are sentences
 * the agent makes from that input (server/protocol/net.ts): they are shown to the admin as they are.
 */
import type {
  Actor,
  ArgsOf,
  HostNetworkInfo,
  HostNetworkSettings,
  Op,
  PortForward,
  ResultOf,
  VmNetworkInfo,
} from "../../protocol/agent";
import { AddressError, allocateIPv4, makePool, refuseAddress } from "../../protocol/net";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getVmForCaller } from "../dal/vms";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";

/** The agent's error, by shape (the client may come from another module graph, see agent-errors.ts). */
function agentErrorOf(error: unknown): { code: string; message: string } | null {
  if (error instanceof Error && error.name === "AgentCallError" && "code" in error)
    return { code: String((error as { code: unknown }).code), message: error.message };
  return null;
}

/** The agent has no network: not configured (`ZAPHOD_NET_NETNS` unset) or not built in. */
export function isNetworkOff(error: unknown): boolean {
  const e = agentErrorOf(error);
  return e?.code === "invalid-request" && /networking is (off|not built)/i.test(e.message);
}

/** A refusal of the admin's input, with the agent's sentence; anything else as every agent error. */
function networkFailure(error: unknown, op: Op): ActionFailure {
  const e = agentErrorOf(error);
  if (isNetworkOff(error))
    return new ActionFailure(
      "conflict",
      /not built/i.test(e?.message ?? "")
        ? "The host's agent cannot do this yet: this part of networking is not built into it."
        : "The host has no VM network: networking is off in the agent's configuration (ZAPHOD_NET_NETNS).",
    );
  if (e && (e.code === "invalid-request" || e.code === "conflict")) {
    console.error(`[network] ${op} refused:`, e.message);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is dropped
    const sentence = e.message.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, 300);
    return new ActionFailure(e.code === "conflict" ? "conflict" : "invalid", `The host refused: ${sentence}`);
  }
  return toActionFailure(error, op);
}

/** An admin's network verb: the agent's refusal of the input becomes the admin's message. */
async function callNetworkVerb<O extends Op>(op: O, args: ArgsOf<O>, actor?: Actor): Promise<ResultOf[O]> {
  try {
    return await getAgent().call(op, args, { actor });
  } catch (error) {
    throw networkFailure(error, op);
  }
}

export type HostNetworkState =
  | { state: "on"; info: HostNetworkInfo }
  | { state: "off" }
  | { state: "unreachable" };

/** A host's network (its own agent's answer; each host has its own bridge and pool). */
async function readHostNetwork(host = "local"): Promise<HostNetworkState> {
  try {
    return { state: "on", info: await getAgent().forHost(host).call("host.network", {}) };
  } catch (error) {
    if (isNetworkOff(error)) return { state: "off" };
    console.error("[network] host.network failed:", error instanceof Error ? error.message : error);
    return { state: "unreachable" };
  }
}

/** The admin's view of a host's network (settings page: the panel's host; host page: each host). */
export async function getHostNetwork(caller: Caller, host = "local"): Promise<HostNetworkState> {
  assertPermission(caller, "network.admin");
  return readHostNetwork(host);
}

/**
 * Every address held, with its holder: the host agent's VMs and the panel's rows on every host (a
 * VM being provisioned has a row before the agent knows it; `Vm.ip` is unique across hosts, so
 * hosts whose pools overlap never hand out the same address). `except`: the VM whose own address
 * does not count.
 */
async function takenAddresses(info: HostNetworkInfo, except?: string): Promise<Map<string, string>> {
  const taken = new Map<string, string>();
  for (const v of info.vms) {
    if (v.name === except) continue;
    // A running VM keeps the address it booted with until its next start: both are its.
    for (const ip of [v.ipv4, v.liveIpv4]) if (ip) taken.set(ip, v.name);
  }
  const rows = await getDb().vm.findMany({ where: { ip: { not: null } }, select: { name: true, ip: true } });
  for (const r of rows) if (r.ip && r.name !== except) taken.set(r.ip, r.name);
  return taken;
}

function poolOf(settings: HostNetworkSettings) {
  return makePool(settings.ipv4Subnet, settings.gateway, {
    first: settings.poolFirst,
    last: settings.poolLast,
  });
}

/**
 * Provisioning and moves (unscoped: called after their own checks): the lowest free address of
 * `hostName`'s pool, or null when that host has no network. A full pool is refused with a sentence.
 */
export async function unsafeAllocateVmAddress(hostName = "local"): Promise<string | null> {
  const host = await readHostNetwork(hostName);
  if (host.state === "off") return null;
  // Without the agent's answer the address cannot be chosen (nor the VM created).
  if (host.state === "unreachable")
    throw new ActionFailure("internal", "The host agent is unavailable or failed. Try again shortly.");
  const ip = allocateIPv4(poolOf(host.info.settings), await takenAddresses(host.info));
  if (ip === null)
    throw new ActionFailure(
      "conflict",
      `Every address of the VM pool (${host.info.settings.poolFirst}–${host.info.settings.poolLast}) is taken: widen the pool on the network page first.`,
    );
  return ip;
}

/**
 * A VM that just moved to `host` (its row switched, its address cleared): the lowest free address
 * of that host's pool, kept in the row first (unique: a provisioning at the same moment makes this
 * pick again), then given to the VM by its agent with the rate limit it had. Null: no network there.
 */
export async function unsafeAssignAddressOnHost(
  vm: { id: string; name: string },
  host: string,
  rateLimitKbit: number | null,
): Promise<string | null> {
  for (let attempt = 1; ; attempt++) {
    const ip = await unsafeAllocateVmAddress(host);
    if (ip === null) return null;
    try {
      await getDb().vm.update({ where: { id: vm.id }, data: { ip } });
    } catch (error) {
      const ipTaken = (error as { code?: unknown }).code === "P2002";
      if (!ipTaken || attempt >= 5) throw error;
      continue;
    }
    try {
      await getAgent().forHost(host).call("vm.setNetwork", { name: vm.name, ipv4: ip, rateLimitKbit });
    } catch (error) {
      await getDb().vm.update({ where: { id: vm.id }, data: { ip: null } });
      throw networkFailure(error, "vm.setNetwork");
    }
    return ip;
  }
}

export type VmNetworkView =
  | {
      state: "on";
      vm: VmNetworkInfo;
      mode: HostNetworkSettings["mode"];
      /** The bridge is in the host's own namespace, so nat and routed VMs are reached directly. */
      bridgeOnHost: boolean;
      forwardAddress: string;
      pool: { first: string; last: string };
    }
  | { state: "off" }
  | { state: "unreachable" };

/** The VM page's Network section: the owner's own VM, or any for an admin. */
export async function getVmNetwork(caller: Caller, name: string): Promise<VmNetworkView> {
  const vm = await getVmForCaller(caller, name, "network");
  const host = await readHostNetwork(vm.host);
  if (host.state !== "on") return host;
  try {
    const info = await getAgent().call("vm.network", { name: vm.name }, { actor: agentActor(caller, vm) });
    return {
      state: "on",
      vm: info,
      mode: host.info.settings.mode,
      bridgeOnHost: host.info.netns === null,
      forwardAddress: host.info.forwardAddress,
      pool: { first: host.info.settings.poolFirst, last: host.info.settings.poolLast },
    };
  } catch (error) {
    if (isNetworkOff(error)) return { state: "off" };
    console.error("[network] vm.network failed:", error instanceof Error ? error.message : error);
    return { state: "unreachable" };
  }
}

const invalid = (field: string, message: string) =>
  new ActionFailure("invalid", "Please check the highlighted fields.", { [field]: message });

/** The admin changes the host network; the pool is checked here first, then by the agent. */
export async function setHostNetwork(
  caller: Caller,
  settings: HostNetworkSettings,
  meta?: RequestMeta,
): Promise<HostNetworkInfo> {
  assertPermission(caller, "network.admin");
  try {
    poolOf(settings);
  } catch (error) {
    if (error instanceof AddressError) throw invalid("ipv4Subnet", error.message);
    throw error;
  }
  const info = await callNetworkVerb("host.setNetwork", { settings });
  await recordAuditEvent({
    actor: caller,
    action: "network.settings",
    result: "success",
    meta,
    detail: { ...settings },
  });
  return info;
}

export async function addPortForward(
  caller: Caller,
  forward: PortForward,
  meta?: RequestMeta,
): Promise<HostNetworkInfo> {
  assertPermission(caller, "network.admin");
  const vm = await getVmForCaller(caller, forward.name, "network");
  if (forward.hostPort < 1024)
    throw invalid("hostPort", "Ports below 1024 are the host's own services: choose 1024 or above");
  // forward.add is a host verb (no actor on the wire); the VM was checked just above.
  const info = await callNetworkVerb("forward.add", forward);
  await recordAuditEvent({
    actor: caller,
    action: "network.forward_add",
    result: "success",
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, hostPort: forward.hostPort, vmPort: forward.vmPort },
  });
  return info;
}

export async function removePortForward(
  caller: Caller,
  hostPort: number,
  meta?: RequestMeta,
): Promise<HostNetworkInfo> {
  assertPermission(caller, "network.admin");
  const info = await callNetworkVerb("forward.remove", { hostPort });
  await recordAuditEvent({
    actor: caller,
    action: "network.forward_remove",
    result: "success",
    meta,
    detail: { hostPort },
  });
  return info;
}

/**
 * The admin sets a VM's address (next boot; null takes it off the network) and rate limit (now
 * when it runs). An address outside the pool or another VM's is refused here before the agent.
 */
export async function setVmNetwork(
  caller: Caller,
  input: { name: string; ipv4: string | null; rateLimitKbit: number | null },
  meta?: RequestMeta,
): Promise<VmNetworkInfo> {
  assertPermission(caller, "network.admin");
  const vm = await getVmForCaller(caller, input.name, "network");
  const host = await readHostNetwork(vm.host);
  if (host.state === "off")
    throw new ActionFailure(
      "conflict",
      "The host has no VM network: networking is off in the agent's configuration.",
    );
  if (host.state === "unreachable")
    throw new ActionFailure("internal", "The host agent is unavailable. Try again shortly.");
  if (input.ipv4 !== null) {
    const refusal = refuseAddress(
      poolOf(host.info.settings),
      input.ipv4,
      await takenAddresses(host.info, vm.name),
    );
    if (refusal) throw invalid("ipv4", refusal);
  }
  const info = await callNetworkVerb(
    "vm.setNetwork",
    { name: vm.name, ipv4: input.ipv4, rateLimitKbit: input.rateLimitKbit },
    agentActor(caller, vm),
  );
  await getDb().vm.update({ where: { id: vm.id }, data: { ip: info.ipv4 } });
  await recordAuditEvent({
    actor: caller,
    action: "vm.network",
    result: "success",
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name, ipv4: info.ipv4, rateLimitKbit: info.rateLimitKbit },
  });
  return info;
}
