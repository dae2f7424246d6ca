import { withMember, z } from "@/server/web/auth/wrappers";
import { getSessionToken } from "@/server/web/dal/get-session";
import { listVmsForCaller } from "@/server/web/dal/vms";
import { seesAllVms } from "@/server/web/vms/access";
import { pageLive } from "@/server/web/vms/hub";
import { eventStreamResponse } from "@/server/web/vms/sse";
import type { VmsSnapshot } from "@/server/web/vms/stream-events";

export const dynamic = "force-dynamic";

/**
 * GET: Server-Sent Events for every VM the caller may see (their own; the admin: all): first
 * `event: snapshot` (VmsSnapshot), then `event: vm` (live state) and `event: task` (progress and
 * results).
 */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller, req }) => {
  const all = seesAllVms(caller);
  return eventStreamResponse({
    caller,
    session: await getSessionToken(),
    signal: req.signal,
    // Every VM the access rule lets the caller watch (eventStreamResponse applies it).
    accepts: () => true,
    snapshot: async (): Promise<VmsSnapshot> => {
      const vms = await listVmsForCaller(caller, { all });
      return { vms: await Promise.all(vms.map((vm) => pageLive(vm.name))) };
    },
  });
});
