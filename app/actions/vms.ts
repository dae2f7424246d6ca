"use server";

import { revalidatePath } from "next/cache";
import { adminAction, memberAction, z } from "@/server/web/auth/wrappers";
import { Slug } from "@/server/web/domain";
import { ProvisionInput } from "@/server/web/vms/inputs";
import { destroyVm, POWER_ACTIONS, provisionVm, requestPowerAction } from "@/server/web/vms/service";

/** Start / Reboot / Shut down / Hard reset / Force off; someone else's VM answers not-found. */
export const vmPowerAction = memberAction(
  "vm.power",
  z.object({ name: Slug, action: z.enum(POWER_ACTIONS) }).strict(),
  async (input, { caller, meta }) => requestPowerAction(caller, input.name, input.action, meta),
);

/** Admin: provision a VM for an active account (and start it when asked). */
export const provisionVmAction = adminAction(
  "vm.provision",
  ProvisionInput,
  async (input, { caller, meta }) => {
    const res = await provisionVm(caller, input, meta);
    revalidatePath("/admin/vms");
    return res;
  },
);

/** Admin: destroy a stopped VM; `confirm` repeats its name. */
export const destroyVmAction = adminAction(
  "vm.provision",
  z.object({ name: Slug, confirm: z.string().max(64) }).strict(),
  async (input, { caller, meta }) => {
    const res = await destroyVm(caller, input.name, input.confirm, meta);
    revalidatePath("/admin/vms");
    return res;
  },
);
