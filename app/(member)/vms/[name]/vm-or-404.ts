import "server-only";
import { notFound } from "next/navigation";
import type { Caller } from "@/server/web/dal/caller";
import { getVmForCaller, type VmRow } from "@/server/web/dal/vms";
import { ActionFailure } from "@/server/web/errors";

/** The VM a page is about; someone else's VM and a missing VM are both a 404. */
export async function vmOr404(caller: Caller, name: string): Promise<VmRow> {
  try {
    return await getVmForCaller(caller, name);
  } catch (e) {
    if (e instanceof ActionFailure && (e.code === "not-found" || e.code === "forbidden")) notFound();
    throw e;
  }
}
