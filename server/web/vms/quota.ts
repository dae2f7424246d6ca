import "server-only";
/**
 * VM quotas per member (issue 14 point 8): how many VMs, how much memory and how much storage a
 * member's VMs may have together. Defaults are Settings (`vm.maxCount`, `vm.maxMemoryMiB`,
 * `vm.maxStorageGiB`; a number, or null for no limit: a small community of friends starts with
 * none, as the seed did); per-member overrides are `User.vmMax*` (null = the default).
 *
 *   const refusal = vmQuotaRefusal(await unsafeVmQuotaOf(ownerId), username, { count: 1, memoryMiB: 256, storageGiB: 2 });
 *
 * Checked when the admin's panel provisions a VM, raises its memory, grows its storage or gives it
 * to another member (the host CLI, root on the host, is not held to them, as with overcommit).
 * The refusal names the limit, where it comes from, and what the member has.
 */
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getDb } from "../db/client";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { unsafeSetSetting } from "../snapshots/policy";
import { actorOf } from "../tasks/records";

export type VmLimits = { maxCount: number | null; maxMemoryMiB: number | null; maxStorageGiB: number | null };
type LimitKey = keyof VmLimits;

const SETTING: Record<LimitKey, string> = {
  maxCount: "vm.maxCount",
  maxMemoryMiB: "vm.maxMemoryMiB",
  maxStorageGiB: "vm.maxStorageGiB",
};
const COLUMN = {
  maxCount: "vmMaxCount",
  maxMemoryMiB: "vmMaxMemoryMiB",
  maxStorageGiB: "vmMaxStorageGiB",
} as const;

export const NO_LIMITS: VmLimits = { maxCount: null, maxMemoryMiB: null, maxStorageGiB: null };

export type VmQuota = {
  limits: VmLimits;
  source: Record<LimitKey, "default" | "member">;
  used: { count: number; memoryMiB: number; storageGiB: number };
};

export async function unsafeGetVmQuotaDefaults(): Promise<VmLimits> {
  const rows = await getDb().setting.findMany({
    where: { key: { in: Object.values(SETTING) } },
    select: { key: true, value: true },
  });
  const out = { ...NO_LIMITS };
  for (const key of Object.keys(SETTING) as LimitKey[]) {
    const row = rows.find((r) => r.key === SETTING[key]);
    if (!row) continue;
    try {
      const value = JSON.parse(row.value);
      if (Number.isInteger(value) && value >= 0) out[key] = value;
    } catch {}
  }
  return out;
}

/** A member's limits and what their VMs hold (unscoped: callers pass the owner they checked). */
export async function unsafeVmQuotaOf(ownerId: string): Promise<VmQuota> {
  const db = getDb();
  const [defaults, user, vms] = await Promise.all([
    unsafeGetVmQuotaDefaults(),
    db.user.findUnique({
      where: { id: ownerId },
      select: { vmMaxCount: true, vmMaxMemoryMiB: true, vmMaxStorageGiB: true },
    }),
    db.vm.findMany({ where: { ownerId }, select: { memoryMiB: true, storageGiB: true } }),
  ]);
  const limits = { ...defaults };
  const source: VmQuota["source"] = {
    maxCount: "default",
    maxMemoryMiB: "default",
    maxStorageGiB: "default",
  };
  for (const key of Object.keys(COLUMN) as LimitKey[]) {
    const own = user?.[COLUMN[key]];
    if (own !== null && own !== undefined) {
      limits[key] = own;
      source[key] = "member";
    }
  }
  return {
    limits,
    source,
    used: {
      count: vms.length,
      memoryMiB: vms.reduce((n, v) => n + v.memoryMiB, 0),
      storageGiB: vms.reduce((n, v) => n + v.storageGiB, 0),
    },
  };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * Why `username` may not have `extra` more (a new VM, more memory or storage), or null. The
 * sentence names the limit, whether it is theirs or the default, and what they have.
 */
export function vmQuotaRefusal(
  quota: VmQuota,
  username: string,
  extra: { count?: number; memoryMiB?: number; storageGiB?: number },
): { field: "ownerId" | "memoryMiB" | "storageGiB"; message: string } | null {
  const whose = (key: LimitKey) => (quota.source[key] === "member" ? "their own limit" : "the default limit");
  const { maxCount, maxMemoryMiB, maxStorageGiB } = quota.limits;
  const { used } = quota;
  if (extra.count && maxCount !== null && used.count + extra.count > maxCount)
    return {
      field: "ownerId",
      message: `${username} may have ${plural(maxCount, "VM")} (${whose("maxCount")}) and has ${used.count}: raise their VM limit first`,
    };
  if (extra.memoryMiB && maxMemoryMiB !== null && used.memoryMiB + extra.memoryMiB > maxMemoryMiB)
    return {
      field: "memoryMiB",
      message: `${username}'s VMs may have ${maxMemoryMiB} MiB of memory together (${whose("maxMemoryMiB")}); they have ${used.memoryMiB} MiB, so at most ${Math.max(0, maxMemoryMiB - used.memoryMiB)} MiB more`,
    };
  if (extra.storageGiB && maxStorageGiB !== null && used.storageGiB + extra.storageGiB > maxStorageGiB)
    return {
      field: "storageGiB",
      message: `${username}'s VMs may have ${maxStorageGiB} GiB of storage together (${whose("maxStorageGiB")}); they have ${used.storageGiB} GiB, so at most ${Math.max(0, maxStorageGiB - used.storageGiB)} GiB more`,
    };
  return null;
}

/** Throws the refusal as the form's field error (the admin's panel; the CLI is not held to it). */
export async function assertVmQuota(
  owner: { id: string; username: string },
  extra: { count?: number; memoryMiB?: number; storageGiB?: number },
): Promise<void> {
  const refusal = vmQuotaRefusal(await unsafeVmQuotaOf(owner.id), owner.username, extra);
  if (refusal)
    throw new ActionFailure("invalid", `Over ${owner.username}'s VM quota.`, {
      [refusal.field]: refusal.message,
    });
}

function checkLimits(input: VmLimits): void {
  for (const [key, value] of Object.entries(input))
    if (value !== null && (!Number.isInteger(value) || value < 0 || value > 1_000_000))
      throw new ActionFailure("invalid", "Please check the highlighted fields.", {
        [key]: "A whole number (0 or more), or empty for no limit",
      });
}

/** The admin's defaults (null: no limit). */
export async function setVmQuotaDefaults(caller: Caller, input: VmLimits, meta?: RequestMeta) {
  assertPermission(caller, "vms.quota");
  checkLimits(input);
  for (const key of Object.keys(SETTING) as LimitKey[]) await unsafeSetSetting(SETTING[key], input[key]);
  await recordAuditEvent({
    actor: actorOf(caller),
    action: "vm.quota.defaults",
    result: "success",
    meta,
    detail: { ...input },
  });
}

/** One member's own limits (null: the default). */
export async function setMemberVmQuota(
  caller: Caller,
  input: { userId: string } & VmLimits,
  meta?: RequestMeta,
) {
  assertPermission(caller, "vms.quota");
  const { userId, ...limits } = input;
  checkLimits(limits);
  const user = await getDb().user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) throw new ActionFailure("not-found", "No such account.");
  await getDb().user.update({
    where: { id: userId },
    data: {
      vmMaxCount: limits.maxCount,
      vmMaxMemoryMiB: limits.maxMemoryMiB,
      vmMaxStorageGiB: limits.maxStorageGiB,
    },
  });
  await recordAuditEvent({
    actor: actorOf(caller),
    action: "vm.quota",
    result: "success",
    targetUserId: userId,
    meta,
    detail: { ...limits },
  });
}

/** The admin's page: the defaults, and every active member's limits and use. */
export async function getVmQuotaAdminView(caller: Caller) {
  assertPermission(caller, "vms.quota");
  const [defaults, users] = await Promise.all([
    unsafeGetVmQuotaDefaults(),
    getDb().user.findMany({
      where: { status: "active" },
      select: { id: true, username: true, vmMaxCount: true, vmMaxMemoryMiB: true, vmMaxStorageGiB: true },
      orderBy: { username: "asc" },
    }),
  ]);
  return {
    defaults,
    members: await Promise.all(
      users.map(async (u) => ({
        id: u.id,
        username: u.username,
        own: { maxCount: u.vmMaxCount, maxMemoryMiB: u.vmMaxMemoryMiB, maxStorageGiB: u.vmMaxStorageGiB },
        quota: await unsafeVmQuotaOf(u.id),
      })),
    ),
  };
}

/** The member's own (their dashboard): limits and use, or null when nothing is limited. */
export async function getOwnVmQuota(caller: Caller): Promise<VmQuota | null> {
  const quota = await unsafeVmQuotaOf(caller.id);
  const { maxCount, maxMemoryMiB, maxStorageGiB } = quota.limits;
  return maxCount === null && maxMemoryMiB === null && maxStorageGiB === null ? null : quota;
}
