/**
 * Who may do what: the only place. Wrappers (./wrappers.ts) and the UI ask `can(role, permission)`;
 * the DAL scopes every query to the caller on top of this.
 */
import type { Role } from "../domain";

export const PERMISSIONS = [
  "vm.read",
  "vm.power",
  "vm.console",
  "vm.snapshot",
  "vm.provision",
  "vm.read.any",
  "vm.console.any",
  "vm.power.any",
  /** Take, restore and delete snapshots of another member's VM. */
  "vm.snapshot.any",
  "vm.destroy",
  "vm.configure",
  /** Decide requested snapshots (approval policy) and see every VM's snapshots. */
  "snapshots.approve",
  /** The snapshot policy: approval or not, default quotas. */
  "snapshots.policy",
  /** One member's snapshot quota. */
  "snapshots.quota",
  /** VM quotas: the defaults and one member's (count, memory, storage across their VMs). */
  "vms.quota",
  "accounts.read",
  "accounts.approve",
  "accounts.suspend",
  "accounts.delete",
  /** Issue a one-time password reset link for a member. */
  "accounts.reset",
  /** Change one's own password (/account). */
  "account.password",
  /** One's own SSH public keys (/account): root's keys in one's VMs. */
  "account.sshKeys",
  /** A VM's root password (the guest's, applied at its next boot): one's own VM, or any. */
  "vm.access",
  "vm.access.any",
  /** A VM's place on the host network (issue 12): addresses, MAC, how to reach it, counters. */
  "vm.network",
  "vm.network.any",
  /** The host network's settings, port forwards, a VM's address and rate limit. */
  "network.admin",
  "audit.read",
  "host.read",
  /** The host's free-space reserve, and resuming a VM the host paused for disk space. */
  "host.configure",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const member: readonly Permission[] = [
  "vm.read",
  "vm.power",
  "vm.console",
  "vm.snapshot",
  "vm.access",
  "vm.network",
  "account.password",
  "account.sshKeys",
];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  member,
  admin: [
    ...member,
    "vm.provision",
    "vm.read.any",
    "vm.console.any",
    // Admins act on every VM (issue 4): power actions and Ctrl-Alt-Del on members' consoles.
    "vm.power.any",
    "vm.snapshot.any",
    // Issue 12 point 4: reset a member's VM root password (rescue; audited, the member sees it).
    "vm.access.any",
    // Issue 12: every VM's network section, and the host network itself.
    "vm.network.any",
    "network.admin",
    // Issue 9 point 8: destroy, and memory / storage / owner / autostart changes.
    "vm.destroy",
    "vm.configure",
    // Issue 10 point 4: a permission per capability (these were all `vm.provision`).
    "snapshots.approve",
    "snapshots.policy",
    "snapshots.quota",
    "vms.quota",
    "accounts.read",
    "accounts.approve",
    "accounts.suspend",
    "accounts.delete",
    "accounts.reset",
    "audit.read",
    "host.read",
    "host.configure",
  ],
};

export function can(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}
