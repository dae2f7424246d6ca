/** "1 of 2 VMs · 64 of 512 MiB memory · 2 GiB storage (no limit)": a member's VM quota in one line. */
export type VmQuotaView = {
  limits: { maxCount: number | null; maxMemoryMiB: number | null; maxStorageGiB: number | null };
  source: {
    maxCount: "default" | "member";
    maxMemoryMiB: "default" | "member";
    maxStorageGiB: "default" | "member";
  };
  used: { count: number; memoryMiB: number; storageGiB: number };
};

export function vmQuotaText(q: VmQuotaView, { marks = false } = {}): string {
  const part = (used: number, max: number | null, unit: string, own: boolean) => {
    const mark = marks && own ? " (own limit)" : "";
    return max === null ? `${used} ${unit} (no limit)` : `${used} of ${max} ${unit}${mark}`;
  };
  return [
    part(
      q.used.count,
      q.limits.maxCount,
      q.used.count === 1 && q.limits.maxCount === 1 ? "VM" : "VMs",
      q.source.maxCount === "member",
    ),
    part(q.used.memoryMiB, q.limits.maxMemoryMiB, "MiB memory", q.source.maxMemoryMiB === "member"),
    part(q.used.storageGiB, q.limits.maxStorageGiB, "GiB storage", q.source.maxStorageGiB === "member"),
  ].join(" · ");
}
