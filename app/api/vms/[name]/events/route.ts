import { withMember, z } from "@/server/web/auth/wrappers";
import { getVmForCaller } from "@/server/web/dal/vms";
import { readLive } from "@/server/web/vms/hub";
import { eventStreamResponse } from "@/server/web/vms/sse";

export const dynamic = "force-dynamic";

/** GET: Server-Sent Events for one VM; 404 for a VM the caller may not see (as for a missing one). */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller, req, params }) => {
  const vm = await getVmForCaller(caller, String(params.name ?? ""));
  return eventStreamResponse({
    caller,
    signal: req.signal,
    accepts: (_ownerId, vmName) => vmName === vm.name,
    snapshot: async () => [{ type: "vm" as const, ownerId: vm.ownerId, vm: await readLive(vm.name) }],
  });
});
