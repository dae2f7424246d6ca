"use server";

import { revalidatePath } from "next/cache";
import { HostNetworkSettings, NETWORK_MODES } from "@/server/protocol/agent";
import { adminAction, z } from "@/server/web/auth/wrappers";
import { Slug } from "@/server/web/domain";
import { addPortForward, removePortForward, setHostNetwork, setVmNetwork } from "@/server/web/vms/network";

const Port = z.coerce
  .number({ message: "A port number" })
  .int("A whole number")
  .min(1, "1–65535")
  .max(65535, "1–65535");
const Address = z.string().trim().max(15);
const checkbox = z.preprocess((v) => v === "on" || v === "true" || v === true, z.boolean());

/** /admin/network: the host network's settings (a form: text fields, comma-separated resolvers). */
export const setHostNetworkAction = adminAction(
  "network.admin",
  z
    .object({
      mode: z.enum(NETWORK_MODES),
      ipv4Subnet: z.string().trim().min(1, "The VMs' subnet, e.g. 10.77.0.0/24").max(18),
      gateway: Address,
      poolFirst: Address,
      poolLast: Address,
      ipv6Prefix: z.string().trim().max(43),
      dns: z.string().trim().max(60),
      vmToVm: checkbox,
      outboundSmtp: checkbox,
    })
    .strict()
    .transform((v, ctx) => {
      const settings = HostNetworkSettings.safeParse({
        ...v,
        ipv6Prefix: v.ipv6Prefix === "" ? null : v.ipv6Prefix,
        dns: v.dns === "" ? [] : v.dns.split(/[\s,]+/).filter(Boolean),
      });
      if (!settings.success) {
        for (const issue of settings.error.issues)
          ctx.addIssue({
            code: "custom",
            path: [String(issue.path[0] ?? "mode")],
            message:
              issue.path[0] === "dns" ? "Up to 3 IPv4 addresses, separated by commas" : "Not a valid address",
          });
        return z.NEVER;
      }
      return settings.data;
    }),
  async (settings, { caller, meta }) => {
    const info = await setHostNetwork(caller, settings, meta);
    revalidatePath("/admin/network");
    return { poolUsed: info.poolUsed, poolSize: info.poolSize };
  },
);

/** /admin/network: a host port forwarded to a VM's port. */
export const addForwardAction = adminAction(
  "network.admin",
  z.object({ hostPort: Port, name: Slug, vmPort: Port }).strict(),
  async (input, { caller, meta }) => {
    await addPortForward(caller, input, meta);
    revalidatePath("/admin/network");
    return { hostPort: input.hostPort };
  },
);

export const removeForwardAction = adminAction(
  "network.admin",
  z.object({ hostPort: Port }).strict(),
  async (input, { caller, meta }) => {
    await removePortForward(caller, input.hostPort, meta);
    revalidatePath("/admin/network");
    return { removed: true };
  },
);

/** The admin VM page: the VM's address (next boot; empty = off the network) and rate limit (empty = none). */
export const setVmNetworkAction = adminAction(
  "network.admin",
  z
    .object({
      name: Slug,
      ipv4: Address,
      rateLimitKbit: z
        .string()
        .trim()
        .max(12)
        .transform((s, ctx) => {
          if (s === "") return null;
          const n = Number(s);
          if (!Number.isInteger(n) || n < 64 || n > 10_000_000) {
            ctx.addIssue({ code: "custom", message: "64–10000000 kbit/s, or empty for no limit" });
            return z.NEVER;
          }
          return n;
        }),
    })
    .strict(),
  async (input, { caller, meta }) => {
    const info = await setVmNetwork(
      caller,
      { name: input.name, ipv4: input.ipv4 === "" ? null : input.ipv4, rateLimitKbit: input.rateLimitKbit },
      meta,
    );
    revalidatePath(`/admin/vms/${input.name}`);
    revalidatePath(`/vms/${input.name}`);
    return { ipv4: info.ipv4, appliesAtNextBoot: info.appliesAtNextBoot };
  },
);
