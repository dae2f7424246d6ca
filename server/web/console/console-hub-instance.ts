import { ConsoleHub, type ConsoleHubOptions } from "./console-hub";

const key = Symbol.for("zaphod.consoleHub");
type WithHub = typeof globalThis & { [key]?: ConsoleHub };

/**
 * The process's one ConsoleHub. Kept on globalThis because the custom server (upgrade glue) and
 * Next's own bundle of server actions (suspend a user → `closeUser`) load separate copies of this
 * module in one process; a module-level singleton would give each its own hub.
 */
export function getConsoleHub(options?: ConsoleHubOptions): ConsoleHub {
  const scope = globalThis as WithHub;
  scope[key] ??= new ConsoleHub(options);
  return scope[key];
}
