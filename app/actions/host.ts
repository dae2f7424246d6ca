"use server";

import { revalidatePath } from "next/cache";
import { adminAction, z } from "@/server/web/auth/wrappers";
import { Slug } from "@/server/web/domain";
import { resumeVmPausedForSpace, setBootLogRetention, setDiskReserve } from "@/server/web/vms/host-space";

const GiB = 1024 ** 3;

/** The host's free-space reserve: a share of the data disk, or a fixed size in GiB. */
export const setDiskReserveAction = adminAction(
  "host.configure",
  z
    .object({
      kind: z.enum(["percent", "gib"]),
      value: z.coerce.number().min(0, "0 or more"),
    })
    .strict()
    .superRefine((v, ctx) => {
      if (v.kind === "percent" && v.value > 50)
        ctx.addIssue({ code: "custom", path: ["value"], message: "At most 50%" });
      if (v.kind === "gib" && v.value > 1024 * 1024)
        ctx.addIssue({ code: "custom", path: ["value"], message: "At most 1048576 GiB" });
    }),
  async (input, { caller, meta }) => {
    const reserve =
      input.kind === "percent"
        ? { percent: Math.round(input.value * 100) / 100 }
        : { bytes: Math.round(input.value * GiB) };
    const result = await setDiskReserve(caller, reserve, meta);
    revalidatePath("/admin/host");
    return result;
  },
);

/** Resume a VM the host paused because its free disk fell below the reserve. */
export const resumeVmAction = adminAction(
  "host.configure",
  z.object({ name: Slug }).strict(),
  async (input, { caller, meta }) => {
    const result = await resumeVmPausedForSpace(caller, input.name, meta);
    revalidatePath("/admin/host");
    return result;
  },
);

/** How many boots' console logs each VM on a host keeps (the oldest go at each VM's next boot). */
export const setBootLogRetentionAction = adminAction(
  "host.configure",
  z
    .object({
      host: Slug,
      keep: z.coerce.number().int("A whole number").min(1, "At least 1").max(200, "At most 200"),
    })
    .strict(),
  async (input, { caller, meta }) => {
    const result = await setBootLogRetention(caller, input.host, input.keep, meta);
    revalidatePath("/admin/host");
    return result;
  },
);
