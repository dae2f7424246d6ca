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
  /** The agent's free-space reserve (issue 11 point 3): what the VMs may never claim. */
  diskReserveBytes: number;
};

/** Free disk that VMs may claim: what is free above the reserve. */
function roomOf(o: Overcommit): number {
  return Math.max(0, o.diskFreeBytes - o.diskReserveBytes);
}

function freeText(o: Overcommit): string {
  return o.diskReserveBytes > 0
    ? `${gib(o.diskFreeBytes)} GiB free, ${gib(o.diskReserveBytes)} GiB of it the host's reserve`
    : `${gib(o.diskFreeBytes)} GiB free`;
}

/**
 * The seed's rule: the VMs' memory may not exceed the host's RAM + swap. Disks are sparse: what
 * the VMs could still write (provisioned − allocated) may not exceed the free disk above the
 * reserve (the agent pauses a writing VM when free space falls below the reserve).
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
      unwritten > roomOf(o)
        ? o.diskReserveBytes > 0
          ? `Disk overcommitted: the sparse disks could still grow by ${gib(unwritten)} GiB; ${gib(roomOf(o))} GiB are free above the host's ${gib(o.diskReserveBytes)} GiB reserve.`
          : `Disk overcommitted: the sparse disks could still grow by ${gib(unwritten)} GiB; ${gib(o.diskFreeBytes)} GiB are free.`
        : null,
  };
}

export function gib(bytes: number): string {
  return (bytes / 1024 ** 3).toFixed(1);
}

/** The hard ceiling, whatever the admin confirms: the VMs' memory at most twice RAM + swap. */
export const MEMORY_OVERCOMMIT_CEILING = 2;

/**
 * The server's decision for a new VM (issue 11 point 7). Never: one VM larger than the host's
 * RAM + swap (or the protocol's 64 GiB), the VMs' memory beyond MEMORY_OVERCOMMIT_CEILING × (RAM +
 * swap), or a disk that could not be written in full into the free disk above the reserve today
 * (the agent refuses it too, `no-space`). Only with the admin's
 * explicit confirmation: the overcommit that overcommitWarnings describes. Null: go ahead.
 */
export function provisionRefusal(
  o: Overcommit,
  add: { memoryMiB: number; storageGiB: number; swapMiB: number; imageBytes: number },
  confirmed: boolean,
): Record<string, string> | null {
  const memLimit = o.hostRamMiB + o.hostSwapMiB;
  const errors: Record<string, string> = {};
  if (add.memoryMiB > memLimit)
    errors.memoryMiB = `At most ${memLimit} MiB: the host's RAM + swap (one VM cannot be larger than the host).`;
  else if (o.vmMemoryMiB + add.memoryMiB > memLimit * MEMORY_OVERCOMMIT_CEILING)
    errors.memoryMiB = `The VMs would have ${o.vmMemoryMiB + add.memoryMiB} MiB, more than ${MEMORY_OVERCOMMIT_CEILING}× the host's ${memLimit} MiB of RAM + swap.`;
  const addBytes = add.storageGiB * 1024 ** 3 + add.swapMiB * 1024 ** 2 + add.imageBytes;
  if (addBytes > roomOf(o))
    errors.storageGiB = `At most ${gib(Math.max(0, roomOf(o) - add.imageBytes - add.swapMiB * 1024 ** 2))} GiB: the host has ${freeText(o)}${o.diskReserveBytes > 0 ? " (the new VM's sparse disks may each grow to their full size)" : ""}.`;
  if (Object.keys(errors).length) return errors;
  const warnings = overcommitWarnings(o, add);
  if ((warnings.memory || warnings.disk) && !confirmed)
    return {
      confirmOvercommit: [warnings.memory, warnings.disk, "Tick “Provision anyway” to go ahead."]
        .filter(Boolean)
        .join(" "),
    };
  return null;
}
