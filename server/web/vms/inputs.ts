/** Input schemas shared by the VM server actions and route handlers. */
import { z } from "zod";
import { AGENT_LIMITS } from "../../protocol/agent";
import { Slug } from "../domain";

const checkbox = z
  .union([z.boolean(), z.enum(["on", "true", "false", ""])])
  .optional()
  .transform((v) => v === true || v === "on" || v === "true");

const int = (min: number, max: number, what: string) =>
  z.coerce
    .number({ message: `Enter ${what}` })
    .int(`Enter a whole number of ${what}`)
    .min(min, `At least ${min}`)
    .max(max, `At most ${max}`);

export const ProvisionInput = z.object({
  ownerId: z.uuid("Choose an owner"),
  name: Slug,
  image: Slug,
  memoryMiB: int(AGENT_LIMITS.memoryMiB.min, AGENT_LIMITS.memoryMiB.max, "MiB"),
  storageGiB: int(AGENT_LIMITS.storageGiB.min, AGENT_LIMITS.storageGiB.max, "GiB"),
  swapMiB: int(AGENT_LIMITS.swapMiB.min, AGENT_LIMITS.swapMiB.max, "MiB"),
  autostart: checkbox,
  startNow: checkbox,
  /** The admin's explicit "Provision anyway" when the host would be overcommitted. */
  confirmOvercommit: checkbox,
  /** The host to place it on ("local" or a joined host); empty or "auto": the most headroom. */
  host: z.string().max(32).optional(),
});
