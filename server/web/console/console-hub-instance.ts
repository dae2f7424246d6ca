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
 */
export function getConsoleHub(options?: ConsoleHubOptions): ConsoleHub {
  const scope = globalThis as WithHub;
  if (!scope[key]) {
    const hub = new ConsoleHub(options);
    onAnySessionsEnded((userId) => hub.closeUser(userId));
    scope[key] = hub;
  }
  return scope[key];
}
