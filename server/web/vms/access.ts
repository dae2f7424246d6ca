/**
 * THE rule for "may this caller act on / watch this VM" (issue 10 point 4), used by power
 * actions, the console, snapshots and event streams. A capability on one's own VM needs its
 * permission (`vm.power`); on another's VM the `.any` twin (`vm.power.any`). Only an active
 * caller acts on anything. Pure: the lookups that use it are in ../dal/vms.ts (`getVmForCaller`
 * with a capability) and the console's access loader.
 */
import { can, type Permission } from "../auth/permissions";
import type { Role, UserStatus } from "../domain";

export const VM_CAPABILITIES = ["read", "power", "console", "snapshot", "access", "network"] as const;
export type VmCapability = (typeof VM_CAPABILITIES)[number];

const OWN: Record<VmCapability, Permission> = {
  read: "vm.read",
  power: "vm.power",
  console: "vm.console",
  snapshot: "vm.snapshot",
  access: "vm.access",
  network: "vm.network",
};
const ANY: Record<VmCapability, Permission> = {
  read: "vm.read.any",
  power: "vm.power.any",
  console: "vm.console.any",
  snapshot: "vm.snapshot.any",
  access: "vm.access.any",
  network: "vm.network.any",
};

export type AccessCaller = { id: string; role: Role; status: UserStatus };

/** The permission that decides `capability` for this caller on a VM owned by `ownerId`. */
export function permissionFor(
  caller: Pick<AccessCaller, "id">,
  ownerId: string,
  capability: VmCapability,
): Permission {
  return caller.id === ownerId ? OWN[capability] : ANY[capability];
}

/** May `caller` use `capability` on a VM owned by `ownerId`? */
export function mayActOn(caller: AccessCaller, vm: { ownerId: string }, capability: VmCapability): boolean {
  if (caller.status !== "active") return false;
  if (!can(caller.role, OWN.read)) return false;
  return can(caller.role, permissionFor(caller, vm.ownerId, capability));
}

/** May `caller` see (and watch the events of) VMs that are not theirs? */
export function seesAllVms(caller: AccessCaller): boolean {
  return caller.status === "active" && can(caller.role, ANY.read);
}
