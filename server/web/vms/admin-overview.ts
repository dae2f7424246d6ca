import "server-only";
/** What the admin's landing page shows: what needs attention, and the host's headroom. */
import { assertPermission } from "../dal/assert-permission";
import type { Caller } from "../dal/caller";
import { listAccounts } from "../dal/list-accounts";
import { listFailedTasks, type TaskView } from "../dal/tasks";
import { listVmsForCaller, type VmRow } from "../dal/vms";
import { getHostFigures, type HostFigures } from "./host-figures";

export type AdminOverviewData = {
  pending: { id: string; username: string; name: string }[];
  waiting: { name: string; owner: string; detail: string | null }[];
  crashed: { name: string; owner: string }[];
  /** Running VMs the agent holds paused because the host's free disk fell below its reserve. */
  pausedForSpace: { name: string; owner: string; reason: string }[];
  failedTasks: { id: string; vmName: string | null; kind: string; error: string | null; createdAt: string }[];
  host: {
    reachable: boolean;
    memAvailableMiB: number;
    memTotalMiB: number;
    vmMemoryMiB: number;
    diskFreeBytes: number;
    diskTotalBytes: number;
    vmsRunning: number;
    vmsTotal: number;
  } | null;
};

const DAY_MS = 24 * 3600 * 1000;

export async function getAdminOverview(caller: Caller): Promise<AdminOverviewData> {
  assertPermission(caller, "host.read");
  const [{ pending }, figures, failed, vms] = await Promise.all([
    listAccounts(caller),
    getHostFigures(caller),
    listFailedTasks(caller, new Date(Date.now() - DAY_MS), 5),
    listVmsForCaller(caller, { all: true }),
  ]);
  return buildAdminOverview({ pending, figures, failed, vms });
}

/** Pure: the overview from what the accounts, the tasks and the agent said. */
export function buildAdminOverview(input: {
  pending: { id: string; username: string; name: string }[];
  figures: Pick<HostFigures, "health" | "vms" | "overcommit">;
  failed: Pick<TaskView, "id" | "vmName" | "kind" | "error" | "createdAt">[];
  vms: Pick<VmRow, "name" | "ownerUsername">[];
}): AdminOverviewData {
  const { pending, figures, failed, vms } = input;
  // Only VMs the panel knows (a VM made by hand on the host has no owner here).
  const ownerOf = new Map(vms.map((v) => [v.name, v.ownerUsername]));
  const known = figures.vms.filter((s) => ownerOf.has(s.name));
  const health = figures.health;
  return {
    pending: pending.map(({ id, username, name }) => ({ id, username, name })),
    waiting: known
      .filter((s) => s.state === "running" && s.stage === "waiting-at-console")
      .map((s) => ({ name: s.name, owner: ownerOf.get(s.name) ?? s.owner, detail: s.stageDetail })),
    pausedForSpace: known
      .filter((s) => s.state === "running" && s.pausedForSpace)
      .map((s) => ({
        name: s.name,
        owner: ownerOf.get(s.name) ?? s.owner,
        reason: s.pausedForSpace?.reason ?? "",
      })),
    crashed: known
      .filter((s) => s.state === "crashed")
      .map((s) => ({ name: s.name, owner: ownerOf.get(s.name) ?? s.owner })),
    failedTasks: failed.map((t) => ({
      id: t.id,
      vmName: t.vmName,
      kind: t.kind,
      error: t.error,
      createdAt: t.createdAt,
    })),
    host: health
      ? {
          reachable: true,
          memAvailableMiB: Math.round(health.host.memAvailableKiB / 1024),
          memTotalMiB: Math.round(health.host.memTotalKiB / 1024),
          vmMemoryMiB: figures.overcommit?.vmMemoryMiB ?? 0,
          diskFreeBytes: health.host.dataDiskFreeBytes,
          diskTotalBytes: health.host.dataDiskTotalBytes,
          vmsRunning: figures.vms.filter((v) => v.pid !== null).length,
          vmsTotal: figures.vms.length,
        }
      : {
          reachable: false,
          memAvailableMiB: 0,
          memTotalMiB: 0,
          vmMemoryMiB: 0,
          diskFreeBytes: 0,
          diskTotalBytes: 0,
          vmsRunning: 0,
          vmsTotal: 0,
        },
  };
}
