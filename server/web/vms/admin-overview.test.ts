import { describe, expect, it } from "vitest";
import type { HealthResult, VmStatus } from "../../protocol/agent";
import { buildAdminOverview } from "./admin-overview";

function status(name: string, over: Partial<VmStatus>): VmStatus {
  return {
    name,
    owner: name,
    image: "busybox-1",
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
    mac: "02:00:00:00:00:01",
    ipv4: null,
    rateLimitKbit: null,
    autostart: false,
    createdAt: "2026-12-01T00:00:00.000Z",
    state: "stopped",
    stage: null,
    stageDetail: null,
    pid: null,
    hostUser: `zvm-${name}`,
    bootId: null,
    processUptimeSeconds: null,
    guest: null,
    disks: [],
    busy: null,
    ...over,
  };
}

const health = {
  host: {
    memTotalKiB: 4096 * 1024,
    memAvailableKiB: 1024 * 1024,
    swapTotalKiB: 0,
    swapFreeKiB: 0,
    dataDiskTotalBytes: 100e9,
    dataDiskFreeBytes: 40e9,
  },
} as HealthResult;

describe("the admin's overview", () => {
  it("lists VMs waiting at a console prompt and crashed ones, with their owners, and the host's room", () => {
    const o = buildAdminOverview({
      pending: [{ id: "u1", username: "newbie", name: "New Bie" }],
      figures: {
        health,
        overcommit: null,
        vms: [
          status("fsck-vm", {
            state: "running",
            pid: 10,
            stage: "waiting-at-console",
            stageDetail: "fsck prompt",
          }),
          status("fine-vm", { state: "running", pid: 11, stage: "up" }),
          status("dead-vm", { state: "crashed" }),
          status("by-hand", { state: "crashed" }),
        ],
      },
      failed: [
        {
          id: "t1",
          vmName: "fine-vm",
          kind: "grow-storage",
          error: "Shut the VM down first.",
          createdAt: "x",
        },
      ],
      vms: [
        { name: "fsck-vm", ownerUsername: "alice" },
        { name: "fine-vm", ownerUsername: "bob" },
        { name: "dead-vm", ownerUsername: "carol" },
      ],
    });
    expect(o.pending.map((p) => p.username)).toEqual(["newbie"]);
    expect(o.waiting).toEqual([{ name: "fsck-vm", owner: "alice", detail: "fsck prompt" }]);
    expect(o.crashed).toEqual([{ name: "dead-vm", owner: "carol" }]);
    expect(o.failedTasks[0]?.kind).toBe("grow-storage");
    expect(o.host).toMatchObject({
      reachable: true,
      memAvailableMiB: 1024,
      memTotalMiB: 4096,
      vmsRunning: 2,
      vmsTotal: 4,
    });
  });

  it("says the host is unreachable when the agent did not answer", () => {
    const o = buildAdminOverview({
      pending: [],
      figures: { health: null, overcommit: null, vms: [] },
      failed: [],
      vms: [],
    });
    expect(o.host?.reachable).toBe(false);
    expect(o.waiting).toEqual([]);
  });
});
