import { withMember, z } from "@/server/web/auth/wrappers";
import { getSessionToken } from "@/server/web/dal/get-session";
import { listTasksForVm } from "@/server/web/dal/tasks";
import { getVmForCaller } from "@/server/web/dal/vms";
import { pageLive } from "@/server/web/vms/hub";
import { eventStreamResponse } from "@/server/web/vms/sse";
import type { VmSnapshot } from "@/server/web/vms/stream-events";

export const dynamic = "force-dynamic";

/**
 * GET: Server-Sent Events for one VM; 404 for a VM the caller may not see (as for a missing one).
 * Every connection starts with `event: snapshot` (VmSnapshot: live state and recent tasks), so a
 * task that ended while the stream was away is shown as ended.
 */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller, req, params }) => {
  const vm = await getVmForCaller(caller, String(params.name ?? ""));
  return eventStreamResponse({
    caller,
    session: await getSessionToken(),
    signal: req.signal,
    // This VM only; the access rule (applied by eventStreamResponse) still decides per event, so a
    // VM handed to another member stops reaching its former owner's open stream.
    accepts: (_ownerId, vmName) => vmName === vm.name,
    snapshot: async (): Promise<VmSnapshot> => {
      const [live, tasks] = await Promise.all([pageLive(vm.name), listTasksForVm(caller, vm.id, 20)]);
      return { vm: live, tasks };
    },
  });
});
