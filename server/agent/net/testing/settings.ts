import type { HostNetworkSettings } from "../../../protocol/agent";

/** Host network settings for unit tests: the configuration's defaults in nat mode, with `over`. */
export function testSettings(over: Partial<HostNetworkSettings> = {}): HostNetworkSettings {
  return {
    mode: "nat",
    ipv4Subnet: "10.77.0.0/24",
    gateway: "10.77.0.1",
    poolFirst: "10.77.0.2",
    poolLast: "10.77.0.254",
    ipv6Prefix: "fd00:77::/64",
    dns: [],
    vmToVm: true,
    outboundSmtp: false,
    ...over,
  };
}
