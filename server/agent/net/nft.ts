/**
 * The host network's packet rules (issue 12 points 5 and 1): one nftables ruleset for the bridge's
 * namespace, rebuilt whole and applied atomically whenever a VM's port comes or goes or the
 * settings change. Interface fixed by the networking core (net/network.ts calls it); the rules
 * themselves are being written (anti-spoofing per port, VM-to-VM, outbound SMTP, the host's own
 * services, NAT or routed, nftables port forwards).
 */
import type { HostNetworkSettings, PortForward } from "../../protocol/agent";

/** One VM's port on the bridge, as its uplink (the veth end in the bridge's namespace) sees it. */
export interface BridgePort {
  /** Interface name in the bridge's namespace (the veth end joined to the bridge). */
  port: string;
  name: string;
  mac: string;
  ipv4: string;
  ipv6: string | null;
}

export interface NetRulesInput {
  /** `/run/netns/<name>` of the bridge's namespace; null: the host's own. */
  netns: string | null;
  bridge: string;
  /** The interface NAT goes out of (nat mode); null: the default route's. */
  uplink: string | null;
  settings: HostNetworkSettings;
  ports: BridgePort[];
  /** Only when forwards are nftables DNAT (the host's own namespace); the relay needs no rules. */
  natForwards: (PortForward & { ipv4: string })[];
  /** Address the DNAT forwards listen on. */
  forwardAddress: string;
}

/** Applies the whole ruleset (until the rules are written: nothing, every packet passes). */
export async function applyNetworkRules(_input: NetRulesInput): Promise<void> {}

/** Removes every zaphod table from the namespace (networking off, or the tests' cleanup). */
export async function removeNetworkRules(_netns: string | null): Promise<void> {}
