import { getBus } from "../bus";
import {
  unsafeClearPresence,
  unsafeOtherPresence,
  unsafeSetPresence,
  unsafeUsernameOf,
} from "../dal/console-presence";
import { INSTANCE_TTL_MS, instanceId } from "../instances";
import { onAnySessionsEnded } from "../session-events";
import { ConsoleHub, type ConsoleHubOptions } from "./console-hub";

const key = Symbol.for("zaphod.consoleHub");
type WithHub = typeof globalThis & { [key]?: ConsoleHub };

/**
 * The process's one ConsoleHub. Kept on globalThis because the custom server (upgrade glue) and
 * Next's own bundle of server actions load separate copies of this module in one process; a
 * module-level singleton would give each its own hub. The hub closes a user's consoles when the
 * data layer says their sessions ended (suspended, rejected: ../session-events.ts, also kept on
 * globalThis, so the action's copy is heard by the server's hub).
 *
 * With several web instances (PostgreSQL, ../bus.ts) presence is shared: each instance writes its
 * viewers of a VM to a row and says so on the bus; the others merge the rows of live instances
 * into the `viewers` list they push, and an admin opening a member's console on one instance is
 * announced to the member's viewers on all of them.
 */
export function getConsoleHub(options?: ConsoleHubOptions): ConsoleHub {
  const scope = globalThis as WithHub;
  if (!scope[key]) {
    const hub = new ConsoleHub(options);
    onAnySessionsEnded((userId) => hub.closeUser(userId));
    if (getBus().shared) sharePresence(hub);
    scope[key] = hub;
  }
  return scope[key];
}

function sharePresence(hub: ConsoleHub): void {
  const bus = getBus();
  const warn = (what: string) => (e: unknown) =>
    console.warn(`[console] sharing presence: ${what} failed:`, (e as Error).message);
  // Writes of one VM's row go one after another, so the last one written is the current list.
  let writes = Promise.resolve();
  void unsafeClearPresence(instanceId()).catch(warn("clearing the previous process's rows"));
  const reread = (vmId: string) =>
    unsafeOtherPresence(vmId, instanceId(), INSTANCE_TTL_MS)
      .then((viewers) => {
        if (hub.hasViewers(vmId)) hub.setRemoteViewers(vmId, viewers);
      })
      .catch(warn("reading the rows"));
  hub.onPresence((vmId) => {
    const viewers = hub.localViewerInfo(vmId);
    writes = writes
      .then(() => unsafeSetPresence(instanceId(), vmId, viewers))
      .then(() => bus.publish({ t: "presence", vmId }))
      // A viewer who just joined here sees those watching on the other instances too.
      .then(() => {
        if (hub.hasViewers(vmId)) return reread(vmId);
      })
      .catch(warn("writing the row"));
  });
  hub.onAdminOpened((e) => bus.publish({ t: "admin-opened", vmId: e.vmId, userId: e.adminUserId }));
  bus.on((m) => {
    if (m.t === "presence" && hub.hasViewers(m.vmId)) void reread(m.vmId);
    else if (m.t === "admin-opened" && hub.hasViewers(m.vmId))
      void unsafeUsernameOf(m.userId)
        .then((name) => {
          if (name) hub.noticeAdminOpened(m.vmId, name);
        })
        .catch(warn("naming the admin"));
    else if (m.t === "resync") for (const vmId of hub.watchedVms()) void reread(vmId);
  });
}
