import "server-only";
import { getDb } from "../db/client";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

/** Every account's VM names (admin's accounts page), by owner id. */
export async function listAccountVms(caller: Caller): Promise<Map<string, string[]>> {
  assertPermission(caller, "accounts.read");
  assertPermission(caller, "vm.read.any");
  const rows = await getDb().vm.findMany({
    select: { name: true, ownerId: true },
    orderBy: { name: "asc" },
  });
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.ownerId, [...(out.get(r.ownerId) ?? []), r.name]);
  return out;
}
