/** Overcommit figures and the warnings the provisioning form and the host page show (no server code). */

export type Overcommit = {
  /** Sum of every VM's memory (MiB). */
  vmMemoryMiB: number;
  hostRamMiB: number;
  hostSwapMiB: number;
  /** Sum of every VM disk's apparent (sparse) size and what is allocated of it, bytes. */
  diskProvisionedBytes: number;
  diskAllocatedBytes: number;
  diskFreeBytes: number;
  diskTotalBytes: number;
};

/**
 * The seed's rule: the VMs' memory may not exceed the host's RAM + swap. Disks are sparse: what
 * the VMs could still write (provisioned − allocated) may not exceed the free disk.
 */
export function overcommitWarnings(
  o: Overcommit,
  add: { memoryMiB: number; storageGiB: number; swapMiB: number; imageBytes: number } = {
    memoryMiB: 0,
    storageGiB: 0,
    swapMiB: 0,
    imageBytes: 0,
  },
): { memory: string | null; disk: string | null } {
  const mem = o.vmMemoryMiB + add.memoryMiB;
  const memLimit = o.hostRamMiB + o.hostSwapMiB;
  const addBytes = add.storageGiB * 1024 ** 3 + add.swapMiB * 1024 ** 2 + add.imageBytes;
  const unwritten = o.diskProvisionedBytes - o.diskAllocatedBytes + addBytes;
  return {
    memory:
      mem > memLimit
        ? `Memory overcommitted: the VMs would have ${mem} MiB against ${memLimit} MiB of RAM + swap.`
        : null,
    disk:
      unwritten > o.diskFreeBytes
        ? `Disk overcommitted: the sparse disks could still grow by ${gib(unwritten)} GiB; ${gib(o.diskFreeBytes)} GiB are free.`
        : null,
  };
}

export function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}
