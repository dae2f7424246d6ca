import { withMember, z } from "@/server/web/auth/wrappers";
import { listVmsForCaller, seesAllVms } from "@/server/web/dal/vms";
import { readLive } from "@/server/web/vms/hub";
import { ensureVmService } from "@/server/web/vms/service";

/** GET: the caller's VMs with their live state (the admin: every VM). */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller }) => {
  await ensureVmService();
  const vms = await listVmsForCaller(caller, { all: seesAllVms(caller) });
  return Promise.all(
    vms.map(async (vm) => ({
      name: vm.name,
      owner: vm.ownerUsername,
      memoryMiB: vm.memoryMiB,
      live: await readLive(vm.name),
    })),
  );
});
