import { withMember, z } from "@/server/web/auth/wrappers";
import { listTasksForVm } from "@/server/web/dal/tasks";
import { getVmForCaller } from "@/server/web/dal/vms";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { pageLive } from "@/server/web/vms/hub";

/** GET: one VM (config, live state, recent tasks); 404 for a VM the caller may not see. */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller, params }) => {
  await ensureTaskPipeline();
  const vm = await getVmForCaller(caller, String(params.name ?? ""));
  const [live, tasks] = await Promise.all([pageLive(vm.name), listTasksForVm(caller, vm.id, 10)]);
  return {
    name: vm.name,
    owner: vm.ownerUsername,
    image: vm.image,
    memoryMiB: vm.memoryMiB,
    storageGiB: vm.storageGiB,
    swapMiB: vm.swapMiB,
    autostart: vm.autostart,
    live,
    tasks,
  };
});
