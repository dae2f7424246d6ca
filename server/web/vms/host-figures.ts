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

/** One read of a host's agent (the panel's own unless named): its health, its images and every VM. */
async function askAgent(host = "local") {
  const agent = getAgent().forHost(host);
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

export async function getHostFigures(caller: Caller, host = "local"): Promise<HostFigures> {
  assertPermission(caller, "host.read");
  try {
    const { health, images, vms } = await askAgent(host);
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
  host = "local",
): Promise<{ overcommit: Overcommit; imageBytes: number } | null> {
  try {
    const { health, images, vms } = await askAgent(host);
    return {
      imageBytes: images.find((i) => i.name === image)?.sizeBytes ?? 0,
      overcommit: overcommitOf(health, vms),
    };
  } catch {
    return null;
  }
}

/**
 * Placement (issue 13 point 2): of the panel's own host and the joined ones that answer, the one
 * with the most headroom by the RAM + swap rule (RAM + swap less what its VMs are configured for).
 */
export async function unsafePickHost(candidates: string[]): Promise<string> {
  if (candidates.length <= 1) return candidates[0] ?? "local";
  const room = await Promise.all(
    candidates.map(async (host) => {
      try {
        const { health, vms } = await askAgent(host);
        const o = overcommitOf(health, vms);
        return { host, headroom: o.hostRamMiB + o.hostSwapMiB - o.vmMemoryMiB };
      } catch {
        return null;
      }
    }),
  );
  const best = room.filter((r) => r !== null).sort((a, b) => b.headroom - a.headroom)[0];
  return best?.host ?? "local";
}
