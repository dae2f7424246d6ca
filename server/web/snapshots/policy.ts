import "server-only";
/**
 * Snapshot policy and quotas. Settings (host-wide, the admin's): `snapshot.policy` (`immediate`
 * or `approval`), `snapshot.maxCount`, `snapshot.maxBytes`; per-member overrides are
 * `User.snapshotMaxCount` / `User.snapshotMaxBytes` (null = the default).
 *
 * Quota semantics (shown to the member, notes/peers.md: XO's pitfalls):
 * - counted: every snapshot of the member's VMs that is requested, approved, running, ready or
 *   restoring, safety snapshots included; failed and rejected ones are not;
 * - bytes: the allocated size on the host's disk of the member's ready snapshots;
 * - taking a snapshot is refused when the count is reached, the bytes are used up, or the new one
 *   (estimated from the VM's disks) would not fit; the refusal names the limit;
 * - a restore is never refused by the quota: its safety snapshot may go over it, and new
 *   snapshots are refused until the member deletes some.
 */
import { unsafeCountedSnapshotsOf } from "../dal/snapshots";
import { getDb } from "../db/client";

export const SNAPSHOT_POLICIES = ["immediate", "approval"] as const;
export type SnapshotPolicy = (typeof SNAPSHOT_POLICIES)[number];

export type SnapshotDefaults = { policy: SnapshotPolicy; maxCount: number; maxBytes: number };

export const BUILTIN_DEFAULTS: SnapshotDefaults = {
  policy: "immediate",
  maxCount: 5,
  maxBytes: 10 * 1024 ** 3,
};

/** Statuses that count against the quota. */
export const COUNTED_STATUSES = ["requested", "approved", "running", "ready", "restoring"];

export async function unsafeGetSnapshotDefaults(): Promise<SnapshotDefaults> {
  const rows = await getDb().setting.findMany({
    where: { key: { in: ["snapshot.policy", "snapshot.maxCount", "snapshot.maxBytes"] } },
    select: { key: true, value: true },
  });
  const out = { ...BUILTIN_DEFAULTS };
  for (const row of rows) {
    let value: unknown;
    try {
      value = JSON.parse(row.value);
    } catch {
      continue;
    }
    if (row.key === "snapshot.policy" && (value === "immediate" || value === "approval")) out.policy = value;
    if (row.key === "snapshot.maxCount" && Number.isInteger(value) && (value as number) >= 0)
      out.maxCount = value as number;
    if (row.key === "snapshot.maxBytes" && typeof value === "number" && value >= 0) out.maxBytes = value;
  }
  return out;
}

export async function unsafeSetSetting(key: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value);
  await getDb().setting.upsert({ where: { key }, create: { key, value: text }, update: { value: text } });
}

export type Quota = {
  maxCount: number;
  maxBytes: number;
  usedCount: number;
  usedBytes: number;
  /** Where the limits come from. */
  source: { count: "default" | "member"; bytes: "default" | "member" };
};

/** A member's limits and usage across all their VMs (unscoped: callers pass the owner they checked). */
export async function unsafeQuotaOf(ownerId: string): Promise<Quota> {
  const db = getDb();
  const [defaults, user, rows] = await Promise.all([
    unsafeGetSnapshotDefaults(),
    db.user.findUnique({
      where: { id: ownerId },
      select: { snapshotMaxCount: true, snapshotMaxBytes: true },
    }),
    unsafeCountedSnapshotsOf(ownerId, COUNTED_STATUSES),
  ]);
  return {
    maxCount: user?.snapshotMaxCount ?? defaults.maxCount,
    maxBytes: user?.snapshotMaxBytes != null ? Number(user.snapshotMaxBytes) : defaults.maxBytes,
    usedCount: rows.length,
    usedBytes: rows.filter((r) => r.status === "ready").reduce((n, r) => n + Number(r.sizeBytes), 0),
    source: {
      count: user?.snapshotMaxCount != null ? "member" : "default",
      bytes: user?.snapshotMaxBytes != null ? "member" : "default",
    },
  };
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

/** The refusal that names the limit, or null when a snapshot of about `estimateBytes` fits. */
export function quotaRefusal(q: Quota, estimateBytes: number): string | null {
  if (q.usedCount >= q.maxCount) {
    return `Snapshot count limit reached: ${q.usedCount} of ${q.maxCount} snapshots. Delete one to take another.`;
  }
  if (q.usedBytes >= q.maxBytes) {
    return `Snapshot space limit reached: ${formatBytes(q.usedBytes)} of ${formatBytes(q.maxBytes)} used. Delete a snapshot to take another.`;
  }
  if (q.usedBytes + estimateBytes > q.maxBytes) {
    return `Snapshot space limit: this snapshot needs about ${formatBytes(estimateBytes)}, and only ${formatBytes(q.maxBytes - q.usedBytes)} of ${formatBytes(q.maxBytes)} is left. Leave out the storage disk or delete a snapshot.`;
  }
  return null;
}
