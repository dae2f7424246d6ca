import "server-only";
import { can, type Permission } from "../auth/permissions";
import { ActionFailure } from "../errors";
import type { Caller } from "./caller";

/** DAL functions re-check the caller's permission themselves: the wrapper is not the only guard. */
export function assertPermission(caller: Caller, permission: Permission): void {
  if (caller.status !== "active" || !can(caller.role, permission))
    throw new ActionFailure("forbidden", "You are not allowed to do that.");
}
