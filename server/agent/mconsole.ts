/**
 * mconsole speaks AF_UNIX SOCK_DGRAM, which Node cannot open (uml.md §1.4), so the agent calls
 * `uml_mconsole <socket> <command…>` with a timeout (`stack` is known to hang the client).
 */

import { dirname, join } from "node:path";
import type { GuestFigures } from "../protocol/agent";
import { asVmUser } from "./confine/vm-confinement";
import { run } from "./exec";

export type MconsoleCommand =
  | ["version"]
  | ["cad"]
  | ["reboot"]
  | ["halt"]
  | ["stop"]
  | ["go"]
  | ["sysrq", "s" | "u" | "e" | "i"]
  | ["proc", "meminfo" | "loadavg" | "uptime"];

export class MconsoleError extends Error {
  override name = "MconsoleError";
}

export async function mconsole(socket: string, command: MconsoleCommand, timeoutMs = 5000): Promise<string> {
  // <vm dir>/run/<umid>/mconsole. A confined VM's client runs in its sandbox as its user: UML there
  // answers only inside its network namespace, and the socket path is then resolved where only the
  // VM's own files are (root resolving it on the host would follow a link its user put there, e.g.
  // to another VM's mconsole: a `halt` for this VM would stop that one).
  const vmDir = dirname(dirname(dirname(socket)));
  const { argv, as } = await asVmUser(vmDir, null, join(vmDir, "run"), ["uml_mconsole", socket, ...command]);
  const result = await run(argv, { as, timeoutMs, allowFailure: true });
  const out = result.stdout;
  if (!out.startsWith("OK"))
    throw new MconsoleError(`mconsole ${command.join(" ")}: ${(out || result.stderr).trim().slice(0, 200)}`);
  return out.slice(2).replace(/^ ?\n?/, "");
}

export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (match?.[1] && match[2]) out[match[1]] = Number(match[2]);
  }
  return out;
}

export async function readGuestFigures(socket: string): Promise<GuestFigures | null> {
  try {
    const [meminfo, loadavg, uptime] = await Promise.all([
      mconsole(socket, ["proc", "meminfo"], 3000),
      mconsole(socket, ["proc", "loadavg"], 3000),
      mconsole(socket, ["proc", "uptime"], 3000),
    ]);
    const mem = parseMeminfo(meminfo);
    const load = loadavg.trim().split(/\s+/).slice(0, 3).map(Number) as [number, number, number];
    return {
      uptimeSeconds: Number(uptime.trim().split(/\s+/)[0]),
      load,
      memTotalKiB: mem.MemTotal ?? 0,
      memAvailableKiB: mem.MemAvailable ?? 0,
      swapTotalKiB: mem.SwapTotal ?? 0,
      swapFreeKiB: mem.SwapFree ?? 0,
    };
  } catch {
    return null;
  }
}
