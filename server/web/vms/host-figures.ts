import "server-only";
/** The admin's view of the host: the agent's health and the overcommit figures. */
import type { HealthResult, ImageInfo, VmStatus } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import type { Overcommit } from "./overcommit";

export type HostFigures = {
  reachable: boolean;
  health: HealthResult | null;
  images: ImageInfo[];
  vms: VmStatus[];
  overcommit: Overcommit | null;
};

/** One read of the agent: its health, its images and every VM. */
async function askAgent() {
  const agent = getAgent();
  const [health, images, list] = await Promise.all([
    agent.call("agent.health", {}),
    agent.call("image.list", {}),
    agent.call("vm.list", {}),
  ]);
  return { health, images: images.images, vms: list.vms };
}

/** The overcommit figures: what the VMs are configured for against what the host has. */
function overcommitOf(health: HealthResult, vms: VmStatus[]): Overcommit {
  const disks = vms.flatMap((v) => v.disks);
  return {
    vmMemoryMiB: vms.reduce((n, v) => n + v.memoryMiB, 0),
    hostRamMiB: Math.round(health.host.memTotalKiB / 1024),
    hostSwapMiB: Math.round(health.host.swapTotalKiB / 1024),
    diskProvisionedBytes: disks.reduce((n, d) => n + d.apparentBytes, 0),
    diskAllocatedBytes: disks.reduce((n, d) => n + d.allocatedBytes, 0),
    diskFreeBytes: health.host.dataDiskFreeBytes,
    diskTotalBytes: health.host.dataDiskTotalBytes,
    diskReserveBytes: health.host.dataDiskReserveBytes,
  };
}

export async function getHostFigures(caller: Caller): Promise<HostFigures> {
  assertPermission(caller, "host.read");
  try {
    const { health, images, vms } = await askAgent();
    return { reachable: true, health, images, vms, overcommit: overcommitOf(health, vms) };
  } catch (e) {
    console.error("[vms] host figures:", e instanceof Error ? e.message : e);
    return { reachable: false, health: null, images: [], vms: [], overcommit: null };
  }
}

/**
 * What provisioning checks against (overcommitted? beyond the ceiling?): the overcommit figures and
 * the image's size, or null when the agent cannot be asked (the agent then refuses the create).
 * Unscoped: called by provisioning after its own permission check, and by the host CLI.
 */
export async function unsafeReadProvisionFigures(
  image: string,
): Promise<{ overcommit: Overcommit; imageBytes: number } | null> {
  try {
    const { health, images, vms } = await askAgent();
    return {
      imageBytes: images.find((i) => i.name === image)?.sizeBytes ?? 0,
      overcommit: overcommitOf(health, vms),
    };
  } catch {
    return null;
  }
}
