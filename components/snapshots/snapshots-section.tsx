import type { Caller } from "@/server/web/dal/caller";
import { getTaskViewForCaller } from "@/server/web/dal/tasks";
import { getQuotaForVm, listSnapshotsForVm } from "@/server/web/snapshots/service";
import { mayActOn } from "@/server/web/vms/access";
import { type SnapshotActions, SnapshotPanel } from "./snapshot-panel";

/**
 * The VM page's snapshot section (server part): the caller's view of this VM's snapshots. The
 * actions come from the page; taking, restoring and deleting follow the VM access rule's snapshot
 * capability (vm.snapshot on one's own VM, vm.snapshot.any on another's).
 */
export async function SnapshotsSection({
  caller,
  vm,
  actions,
}: {
  caller: Caller;
  vm: { name: string; ownerId: string };
  actions: SnapshotActions;
}) {
  const [snapshots, quota] = await Promise.all([
    listSnapshotsForVm(caller, vm.name),
    getQuotaForVm(caller, vm.name),
  ]);
  const active = snapshots.find((s) => (s.status === "running" || s.status === "restoring") && s.taskId);
  const task = active?.taskId ? await getTaskViewForCaller(caller, active.taskId) : null;
  return (
    <SnapshotPanel
      vmName={vm.name}
      initialSnapshots={snapshots}
      initialTask={task?.status === "running" ? task : null}
      quota={{
        maxCount: quota.maxCount,
        maxBytes: quota.maxBytes,
        usedCount: quota.usedCount,
        usedBytes: quota.usedBytes,
        policy: quota.policy,
      }}
      canSnapshot={mayActOn(caller, vm, "snapshot")}
      actions={actions}
    />
  );
}
