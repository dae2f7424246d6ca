import type { HostNetworkSettings } from "../../../protocol/agent";
import { loadConfig } from "../../config";

/** Host network settings for unit tests: the configuration's defaults in nat mode, with `over`. */
export function testSettings(over: Partial<HostNetworkSettings> = {}): HostNetworkSettings {
  const env: Record<string, string> = { ZAPHOD_NET_NETNS: "zt-unit", ZAPHOD_NET_MODE: "nat" };
  const net = loadConfig(env as NodeJS.ProcessEnv).network;
  if (!net) throw new Error("the test network configuration did not parse");
  return { ...net.defaults, ...over };
}
