import { withMember, z } from "@/server/web/auth/wrappers";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { ensureTaskPipeline } from "@/server/web/tasks/pipeline";
import { seesAllVms } from "@/server/web/vms/access";
import { pageLive } from "@/server/web/vms/hub";

/** GET: the caller's VMs with their live state (the admin: every VM). */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller }) => {
  await ensureTaskPipeline();
  const vms = await listVmsForCaller(caller, { all: seesAllVms(caller) });
  return Promise.all(
    vms.map(async (vm) => ({
      name: vm.name,
      owner: vm.ownerUsername,
      memoryMiB: vm.memoryMiB,
      live: await pageLive(vm.name),
    })),
  );
});
