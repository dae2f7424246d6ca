import { describe, expect, it } from "vitest";
import { type Overcommit, overcommitWarnings } from "./overcommit";

const GiB = 1024 ** 3;
const host: Overcommit = {
  vmMemoryMiB: 1024,
  hostRamMiB: 2048,
  hostSwapMiB: 1024,
  diskProvisionedBytes: 20 * GiB,
  diskAllocatedBytes: 5 * GiB,
  diskFreeBytes: 30 * GiB,
  diskTotalBytes: 100 * GiB,
};

describe("overcommit warnings (the seed's rule: VM memory ≤ RAM + swap; sparse disks ≤ free disk)", () => {
  it("none while the new VM fits", () => {
    expect(overcommitWarnings(host, { memoryMiB: 2048, storageGiB: 8, swapMiB: 256, imageBytes: 0 })).toEqual(
      {
        memory: null,
        disk: null,
      },
    );
  });
  it("memory: total VM memory above RAM + swap", () => {
    const w = overcommitWarnings(host, { memoryMiB: 2049, storageGiB: 1, swapMiB: 0, imageBytes: 0 });
    expect(w.memory).toContain("3073 MiB against 3072 MiB");
    expect(w.disk).toBeNull();
  });
  it("disk: what the sparse disks could still grow above the free disk", () => {
    // 15 GiB unwritten + 16 GiB new > 30 GiB free
    const w = overcommitWarnings(host, { memoryMiB: 16, storageGiB: 16, swapMiB: 0, imageBytes: 0 });
    expect(w.disk).toContain("31.0 GiB");
    expect(w.memory).toBeNull();
  });
});
