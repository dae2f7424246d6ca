"use server";

import { revalidatePath } from "next/cache";
import { BOOT_ONCE_MODES } from "@/server/protocol/agent";
import { adminAction, memberAction, z } from "@/server/web/auth/wrappers";
import { Slug } from "@/server/web/domain";
import { moveVmFor } from "@/server/web/hosts/move";
import { setVmBootOnce } from "@/server/web/vms/boot-once";
import { ProvisionInput } from "@/server/web/vms/inputs";
import { changeVmOwner, growVmStorage, setVmAutostart, setVmMemory } from "@/server/web/vms/manage-vm";
import { setMemberVmQuota, setVmQuotaDefaults } from "@/server/web/vms/quota";
import { destroyVm, POWER_ACTIONS, provisionVm, requestPowerAction } from "@/server/web/vms/service";

const wholeNumber = (what: string) =>
  z.coerce.number({ message: `Enter ${what}` }).int(`Enter a whole number of ${what}`);

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

/** Admin: destroy a stopped VM; `confirm` repeats its name; snapshots kept or deleted. */
export const destroyVmAction = adminAction(
  "vm.destroy",
  z.object({ name: Slug, confirm: z.string().max(64), keepSnapshots: z.boolean().default(false) }).strict(),
  async (input, { caller, meta }) => {
    const res = await destroyVm(caller, input.name, input.confirm, meta, {
      keepSnapshots: input.keepSnapshots,
    });
    revalidatePath("/admin/vms");
    return res;
  },
);

/** Admin: memory for the VM's next boot. */
export const setVmMemoryAction = adminAction(
  "vm.configure",
  z.object({ name: Slug, memoryMiB: wholeNumber("MiB") }).strict(),
  async (input, { caller, meta }) => {
    const res = await setVmMemory(caller, input.name, input.memoryMiB, meta);
    revalidatePath(`/admin/vms/${input.name}`);
    return res;
  },
);

/** Admin: start the VM with the host, or not. */
export const setVmAutostartAction = adminAction(
  "vm.configure",
  z.object({ name: Slug, autostart: z.boolean() }).strict(),
  async (input, { caller, meta }) => {
    const res = await setVmAutostart(caller, input.name, input.autostart, meta);
    revalidatePath(`/admin/vms/${input.name}`);
    return res;
  },
);

/** Admin: grow a stopped VM's storage disk (and its filesystem). */
export const growVmStorageAction = adminAction(
  "vm.configure",
  z.object({ name: Slug, storageGiB: wholeNumber("GiB") }).strict(),
  async (input, { caller, meta }) => {
    const res = await growVmStorage(caller, input.name, input.storageGiB, meta);
    revalidatePath(`/admin/vms/${input.name}`);
    return res;
  },
);

/** Admin: hand a stopped VM to another active account. */
export const changeVmOwnerAction = adminAction(
  "vm.configure",
  z.object({ name: Slug, ownerId: z.uuid("Choose an account") }).strict(),
  async (input, { caller, meta }) => {
    const res = await changeVmOwner(caller, input.name, input.ownerId, meta);
    revalidatePath(`/admin/vms/${input.name}`);
    revalidatePath("/admin/vms");
    return res;
  },
);

/** Admin: move a stopped VM to another host, cold (disks copied and checked, then switched). */
export const moveVmAction = adminAction(
  "vm.configure",
  z.object({ name: Slug, host: Slug }).strict(),
  async (input, { caller }) => {
    const res = await moveVmFor(caller, input.name, input.host);
    revalidatePath(`/admin/vms/${input.name}`);
    revalidatePath("/admin/vms");
    return { from: res.from, to: res.to, seconds: res.seconds };
  },
);

/** A limit from a form field: empty is null (no limit for a default; the default for a member). */
const Limit = (max: number) =>
  z.union([
    z.literal("").transform(() => null),
    z.null(),
    z.coerce.number().int("A whole number").min(0, "0 or more").max(max, `At most ${max}`),
  ]);
const Limits = {
  maxCount: Limit(1000),
  maxMemoryMiB: Limit(1_000_000),
  maxStorageGiB: Limit(1_000_000),
};

/** Admin: the default VM quota of every member (empty: no limit). */
export const setVmQuotaDefaultsAction = adminAction(
  "vms.quota",
  z.object(Limits).strict(),
  async (input, { caller, meta }) => {
    await setVmQuotaDefaults(caller, input, meta);
    revalidatePath("/admin/vms");
    return { saved: true };
  },
);

/** Admin: one member's own VM quota (empty: the default). */
export const setMemberVmQuotaAction = adminAction(
  "vms.quota",
  z.object({ userId: z.uuid(), ...Limits }).strict(),
  async (input, { caller, meta }) => {
    await setMemberVmQuota(caller, input, meta);
    revalidatePath("/admin/vms");
    return { saved: true };
  },
);

/** Member (own VM) or admin: a one-shot boot option for the next start, or null to cancel it. */
export const setBootOnceAction = memberAction(
  "vm.power",
  z.object({ name: Slug, mode: z.enum(BOOT_ONCE_MODES).nullable() }).strict(),
  async (input, { caller, meta }) => {
    const res = await setVmBootOnce(caller, input.name, input.mode, meta);
    revalidatePath(`/vms/${input.name}`);
    return res;
  },
);
