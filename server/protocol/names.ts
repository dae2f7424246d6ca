/**
 * Names cross the agent boundary as ids and are used by the agent to build host paths, host user
 * names and UML arguments, so they are strict slugs, checked by this one schema on both sides.
 */
import { z } from "zod";

/** VM and image names: 3..32 chars, lower-case letter first, no trailing hyphen. Also the UML umid. */
export const SLUG_PATTERN = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;
export const Slug = z.string().max(32).regex(SLUG_PATTERN, "must be a slug: a-z, 0-9, '-', 3 to 32 chars");

export const VmName = Slug;
export const ImageName = Slug;
/** A host of the panel (issue 13): "local" is the panel's own host, the agent on its Unix socket. */
export const HostName = Slug;

/**
 * Owner (member username) slugs are shorter: the host user is `<prefix><owner>` and Linux user
 * names are limited to 32 characters; the agent's prefix is at most 8.
 */
export const OWNER_PATTERN = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;
export const OwnerName = z.string().max(24).regex(OWNER_PATTERN, "must be a slug of 3 to 24 chars");

/** A locally administered unicast MAC, lower-case, colon separated. */
export const MacAddress = z
  .string()
  .max(17)
  .regex(
    /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/,
    "must be a locally administered unicast MAC (x2:…, lower-case)",
  );

export function isSlug(value: string): boolean {
  return SLUG_PATTERN.test(value);
}
