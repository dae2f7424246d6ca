import { withMember, z } from "@/server/web/auth/wrappers";
import { listVmsForCaller, seesAllVms } from "@/server/web/dal/vms";
import { readLive } from "@/server/web/vms/hub";
import { eventStreamResponse } from "@/server/web/vms/sse";

export const dynamic = "force-dynamic";

/**
 * GET: Server-Sent Events for every VM the caller may see (their own; the admin: all):
 * `event: vm` (live state) and `event: task` (progress and results).
 */
export const GET = withMember("vm.read", z.object({}).strict(), async (_input, { caller, req }) => {
  const all = seesAllVms(caller);
  return eventStreamResponse({
    caller,
    signal: req.signal,
    accepts: (ownerId) => all || ownerId === caller.id,
    snapshot: async () => {
      const vms = await listVmsForCaller(caller, { all });
      const lives = await Promise.all(vms.map((vm) => readLive(vm.name)));
      return lives.map((vm, i) => ({ type: "vm" as const, ownerId: vms[i]?.ownerId ?? "", vm }));
    },
  });
});
