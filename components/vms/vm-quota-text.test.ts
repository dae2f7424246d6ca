import { describe, expect, it } from "vitest";
import { vmQuotaText } from "./vm-quota-text";

const q = (limits: [number | null, number | null, number | null], own = false) => ({
  limits: { maxCount: limits[0], maxMemoryMiB: limits[1], maxStorageGiB: limits[2] },
  source: {
    maxCount: own ? ("member" as const) : ("default" as const),
    maxMemoryMiB: "default" as const,
    maxStorageGiB: "default" as const,
  },
  used: { count: 1, memoryMiB: 64, storageGiB: 2 },
});

describe("a member's VM quota in one line", () => {
  it("says each limit, or that there is none", () => {
    expect(vmQuotaText(q([2, 512, null]))).toBe(
      "1 of 2 VMs · 64 of 512 MiB memory · 2 GiB storage (no limit)",
    );
    expect(vmQuotaText(q([1, null, 10]))).toBe("1 of 1 VM · 64 MiB memory (no limit) · 2 of 10 GiB storage");
  });

  it("marks a member's own limit for the admin only", () => {
    expect(vmQuotaText(q([3, null, null], true), { marks: true })).toMatch(/^1 of 3 VMs \(own limit\) · /);
    expect(vmQuotaText(q([3, null, null], true))).not.toContain("own limit");
  });
});
