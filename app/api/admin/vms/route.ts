import { withAdmin, z } from "@/server/web/auth/wrappers";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { pageLive } from "@/server/web/vms/hub";
import { ProvisionInput } from "@/server/web/vms/inputs";
import { provisionVm } from "@/server/web/vms/service";

/** GET: every VM with owner, memory and live state. POST: provision (same input as the form). */
export const GET = withAdmin("vm.read.any", z.object({}).strict(), async (_input, { caller }) => {
  const vms = await listVmsForCaller(caller, { all: true });
  return Promise.all(
    vms.map(async (vm) => ({
      name: vm.name,
      owner: vm.ownerUsername,
      memoryMiB: vm.memoryMiB,
      live: await pageLive(vm.name),
    })),
  );
});

export const POST = withAdmin("vm.provision", ProvisionInput, async (input, { caller, meta }) =>
  provisionVm(caller, input, meta),
);
