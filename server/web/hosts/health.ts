import "server-only";
/**
 * Every joined host's health, for the host pages (issue 13 point 2): every 10 s the instance that
 * holds the `host-health` lease asks each host's agent (`agent.health`) and records what it saw —
 * up with its figures, unreachable, or incompatible (another protocol version) — in its Host row.
 * Calls that fail between checks record it too (HostDirectory.observed).
 */
import { getAgent } from "../agent/instance";
import { unsafeListHosts, unsafeRecordHealth } from "../dal/hosts";
import { holdsLease } from "../instances";

export const HOST_CHECK_INTERVAL_MS = 10_000;

export async function checkHosts(): Promise<void> {
  const hosts = (await unsafeListHosts()).filter((h) => h.state === "joined");
  await Promise.all(
    hosts.map(async (host) => {
      try {
        const health = await getAgent().forHost(host.name).call("agent.health", {});
        await unsafeRecordHealth(host.name, {
          reachability: "up",
          lastError: null,
          agentVersion: health.agentVersion,
          protocolVersion: health.version,
          ramMiB: Math.round(health.host.memTotalKiB / 1024),
          swapMiB: Math.round(health.host.swapTotalKiB / 1024),
          diskFreeMiB: Math.round(health.host.dataDiskFreeBytes / 2 ** 20),
        });
      } catch {
        // Recorded as unreachable or incompatible by the router's observer.
      }
    }),
  );
}

export function startHostChecks(intervalMs = HOST_CHECK_INTERVAL_MS): () => void {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      if (await holdsLease("host-health", intervalMs * 2)) await checkHosts();
    } catch (e) {
      console.warn("[web] host check failed (next run retries):", (e as Error).message);
    } finally {
      running = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
