"use server";

import { revalidatePath } from "next/cache";
import { memberAction, z } from "@/server/web/auth/wrappers";
import {
  AddSshKeyInput,
  addSshKey,
  RootPasswordInput,
  removeSshKey,
  setVmRootPassword,
} from "@/server/web/vms/guest-access";

/** /account: an SSH public key for root in every VM of the caller's, from its next boot. */
export const addSshKeyAction = memberAction(
  "account.sshKeys",
  AddSshKeyInput,
  async (input, { caller, meta }) => {
    const key = await addSshKey(caller, input, meta);
    revalidatePath("/account");
    return { fingerprint: key.fingerprint };
  },
);

/** /account: removes one of the caller's keys (from each VM at its next boot). */
export const removeSshKeyAction = memberAction(
  "account.sshKeys",
  z.object({ id: z.string().min(1).max(64) }).strict(),
  async (input, { caller, meta }) => {
    await removeSshKey(caller, input.id, meta);
    revalidatePath("/account");
    return { removed: true };
  },
);

/** The VM page: root's password in the guest from its next boot (the owner, or an admin). */
export const setRootPasswordAction = memberAction(
  "vm.access",
  RootPasswordInput,
  async (input, { caller, meta }) => {
    const res = await setVmRootPassword(caller, input, meta);
    revalidatePath(`/vms/${input.name}`);
    return res;
  },
);
