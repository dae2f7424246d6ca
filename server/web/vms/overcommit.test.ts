import { describe, expect, it } from "vitest";
import { type Overcommit, overcommitWarnings, provisionRefusal } from "./overcommit";

const GiB = 1024 ** 3;
const host: Overcommit = {
  vmMemoryMiB: 1024,
  hostRamMiB: 2048,
  hostSwapMiB: 1024,
  diskProvisionedBytes: 20 * GiB,
  diskAllocatedBytes: 5 * GiB,
  diskFreeBytes: 30 * GiB,
  diskTotalBytes: 100 * GiB,
  diskReserveBytes: 0,
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

describe("provisioning refusal (issue 11 point 7: never beyond a hard ceiling, overcommit only when confirmed)", () => {
  // The attack: 64 GiB RAM and 300 GiB disk on a 23 GiB / 252 GB host.
  const big: Overcommit = {
    vmMemoryMiB: 0,
    hostRamMiB: 23 * 1024,
    hostSwapMiB: 1024,
    diskProvisionedBytes: 0,
    diskAllocatedBytes: 0,
    diskFreeBytes: 252e9,
    diskTotalBytes: 300e9,
    diskReserveBytes: 0,
  };
  it("refuses 64 GiB of memory and 300 GiB of disk on a 23 GiB / 252 GB host, even when confirmed", () => {
    const r = provisionRefusal(big, { memoryMiB: 65536, storageGiB: 300, swapMiB: 0, imageBytes: 0 }, true);
    expect(r?.memoryMiB).toMatch(/^At most 24576 MiB: the host's RAM \+ swap/);
    expect(r?.storageGiB).toMatch(/^At most 234\.7 GiB: the host has 234\.7 GiB free\.$/);
  });
  it("refuses total memory beyond twice RAM + swap, even when confirmed", () => {
    const r = provisionRefusal(
      { ...host, vmMemoryMiB: 5000 },
      { memoryMiB: 2000, storageGiB: 1, swapMiB: 0, imageBytes: 0 },
      true,
    );
    expect(r?.memoryMiB).toContain("more than 2× the host's 3072 MiB");
  });
  it("asks for confirmation when overcommitted within the ceiling; goes ahead once confirmed", () => {
    const add = { memoryMiB: 2049, storageGiB: 1, swapMiB: 0, imageBytes: 0 };
    expect(provisionRefusal(host, add, false)?.confirmOvercommit).toMatch(
      /Memory overcommitted.*Provision anyway/,
    );
    expect(provisionRefusal(host, add, true)).toBeNull();
    expect(provisionRefusal(host, { ...add, memoryMiB: 256 }, false)).toBeNull();
  });
});

describe("the free-space reserve (issue 11 point 3): VMs may claim only what is free above it", () => {
  const reserved: Overcommit = {
    ...host,
    diskProvisionedBytes: 0,
    diskAllocatedBytes: 0,
    diskReserveBytes: 5 * GiB,
  };
  it("refuses a VM whose disks fit the free disk but not what is free above the reserve, even when confirmed", () => {
    // 26 GiB storage + 1 GiB image ≤ 30 GiB free, but > 25 GiB above the 5 GiB reserve
    const r = provisionRefusal(
      reserved,
      { memoryMiB: 16, storageGiB: 26, swapMiB: 0, imageBytes: GiB },
      true,
    );
    expect(r?.storageGiB).toBe(
      "At most 24.0 GiB: the host has 30.0 GiB free, 5.0 GiB of it the host's reserve (the new VM's sparse disks may each grow to their full size).",
    );
    expect(
      provisionRefusal(reserved, { memoryMiB: 16, storageGiB: 24, swapMiB: 0, imageBytes: GiB }, false),
    ).toBeNull();
  });
  it("warns of overcommit against what is free above the reserve", () => {
    const w = overcommitWarnings(
      { ...reserved, diskProvisionedBytes: 22 * GiB },
      { memoryMiB: 16, storageGiB: 4, swapMiB: 0, imageBytes: 0 },
    );
    expect(w.disk).toBe(
      "Disk overcommitted: the sparse disks could still grow by 26.0 GiB; 25.0 GiB are free above the host's 5.0 GiB reserve.",
    );
  });
});
