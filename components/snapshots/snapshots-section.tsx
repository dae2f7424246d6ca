import { can } from "@/server/web/auth/permissions";
import type { Caller } from "@/server/web/dal/caller";
import { unsafeGetTaskView } from "@/server/web/dal/tasks";
import { getQuotaForVm, listSnapshotsForVm } from "@/server/web/snapshots/service";
import { SnapshotPanel } from "./snapshot-panel";

/** The VM page's snapshot section (server part): the caller's view of this VM's snapshots. */
export async function SnapshotsSection({ caller, vmName }: { caller: Caller; vmName: string }) {
  const [snapshots, quota] = await Promise.all([
    listSnapshotsForVm(caller, vmName),
    getQuotaForVm(caller, vmName),
  ]);
  const active = snapshots.find((s) => (s.status === "running" || s.status === "restoring") && s.taskId);
  const task = active?.taskId ? await unsafeGetTaskView(active.taskId) : null;
  return (
    <SnapshotPanel
      vmName={vmName}
      initialSnapshots={snapshots}
      initialTask={task?.status === "running" ? task : null}
      quota={{
        maxCount: quota.maxCount,
        maxBytes: quota.maxBytes,
        usedCount: quota.usedCount,
        usedBytes: quota.usedBytes,
        policy: quota.policy,
      }}
      canSnapshot={can(caller.role, "vm.snapshot")}
    />
  );
}
