import { withMember, z } from "@/server/web/auth/wrappers";
import { POWER_ACTIONS, requestPowerAction } from "@/server/web/vms/service";

/** POST { action: start | reboot | reset | shutdown | poweroff } → { taskId }; 404 for another's VM. */
export const POST = withMember(
  "vm.power",
  z.object({ action: z.enum(POWER_ACTIONS) }).strict(),
  async (input, { caller, meta, params }) =>
    requestPowerAction(caller, String(params.name ?? ""), input.action, meta),
);
