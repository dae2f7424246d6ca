import "server-only";
import { getDb } from "../db/client";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";
import { getVmForCaller } from "./vms";

/** Snapshots of a VM the caller may see (complete ones), for the destroy choice. */
export async function countVmSnapshots(caller: Caller, name: string): Promise<number> {
  assertPermission(caller, "vm.read");
  const vm = await getVmForCaller(caller, name);
  return getDb().snapshot.count({ where: { vmId: vm.id, status: "ready" } });
}
