import "server-only";
import { getDb } from "../db/client";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export type MyVm = { id: string; name: string; image: string; memoryMiB: number; storageGiB: number };

/** The caller's own VMs (scoped by owner). */
export async function listMyVms(caller: Caller): Promise<MyVm[]> {
  assertPermission(caller, "vm.read");
  return getDb().vm.findMany({
    where: { ownerId: caller.id },
    select: { id: true, name: true, image: true, memoryMiB: true, storageGiB: true },
    orderBy: { name: "asc" },
  });
}
