import "server-only";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import { mayActOn, seesAllVms, type VmCapability } from "../vms/access";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

/** A VM row as the web tier knows it (the agent knows its live state). */
export type VmRow = {
  id: string;
  name: string;
  ownerId: string;
  ownerUsername: string;
  image: string;
  memoryMiB: number;
  storageGiB: number;
  swapMiB: number;
  autostart: boolean;
  /** "local" (the panel's own host) or a joined host's name (issue 13). */
  host: string;
  createdAt: Date;
};

const vmSelect = {
  id: true,
  name: true,
  ownerId: true,
  image: true,
  memoryMiB: true,
  storageGiB: true,
  swapMiB: true,
  autostart: true,
  host: true,
  createdAt: true,
  owner: { select: { username: true } },
} as const;

type Selected = {
  id: string;
  name: string;
  ownerId: string;
  image: string;
  memoryMiB: number;
  storageGiB: number;
  swapMiB: number;
  autostart: boolean;
  host: string;
  createdAt: Date;
  owner: { username: string };
};

function toRow(v: Selected): VmRow {
  const { owner, ...rest } = v;
  return { ...rest, ownerUsername: owner.username };
}

/**
 * THE scoped VM lookup: the caller's own VM, or any VM for a caller with `vm.read.any`. Someone
 * else's VM and a missing VM give the same not-found (nothing to learn from the difference).
 * With a `capability` (power, console, snapshot), the access rule of ../vms/access.ts decides
 * too: a VM the caller sees but may not act on that way is `forbidden`.
 */
export async function getVmForCaller(
  caller: Caller,
  name: string,
  capability: VmCapability = "read",
): Promise<VmRow> {
  assertPermission(caller, "vm.read");
  const vm = await getDb().vm.findFirst({
    where: seesAllVms(caller) ? { name } : { name, ownerId: caller.id },
    select: vmSelect,
  });
  if (!vm || !mayActOn(caller, vm, "read")) throw new ActionFailure("not-found", "No such VM.");
  if (!mayActOn(caller, vm, capability))
    throw new ActionFailure("forbidden", "You are not allowed to do that.");
  return toRow(vm);
}

/** The caller's VMs; every VM for the admin when `all` is asked for. */
export async function listVmsForCaller(caller: Caller, opts: { all?: boolean } = {}): Promise<VmRow[]> {
  assertPermission(caller, "vm.read");
  const all = opts.all && seesAllVms(caller);
  const rows = await getDb().vm.findMany({
    where: all ? {} : { ownerId: caller.id },
    select: vmSelect,
    orderBy: { name: "asc" },
  });
  return rows.map(toRow);
}

/**
 * Unscoped: the row for a VM name, for the event hub (which fans events out only after its own
 * per-subscriber filter) and the host CLI.
 */
export async function unsafeGetVmByName(name: string): Promise<VmRow | null> {
  const vm = await getDb().vm.findUnique({ where: { name }, select: vmSelect });
  return vm ? toRow(vm) : null;
}

/** Active accounts that may own a VM (provisioning form); admin only. */
export async function listProvisionableOwners(
  caller: Caller,
): Promise<{ id: string; username: string; name: string; vmCount: number }[]> {
  assertPermission(caller, "vm.provision");
  const users = await getDb().user.findMany({
    where: { status: "active" },
    select: { id: true, username: true, name: true, role: true, _count: { select: { vms: true } } },
    orderBy: { username: "asc" },
  });
  // Members still without a VM first: the usual next step after approving an account.
  return users
    .map((u) => ({ id: u.id, username: u.username, name: u.name, vmCount: u._count.vms, role: u.role }))
    .sort((a, b) => rank(a) - rank(b) || a.username.localeCompare(b.username))
    .map(({ role: _role, ...u }) => u);
}

function rank(u: { role: string; vmCount: number }): number {
  return (u.role === "member" ? 0 : 2) + (u.vmCount === 0 ? 0 : 1);
}
