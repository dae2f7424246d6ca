/**
 * What the VM page's Network section says (issue 12 point 2), as pure functions: how a member
 * reaches the VM over SSH and the traffic figures in human units. No React, no server.
 */
import type { HostNetworkSettings, PortForward, VmNetworkInfo } from "../../server/protocol/agent";

export type ReachInput = {
  ipv4: string | null;
  mode: HostNetworkSettings["mode"];
  /**
   * The bridge is in the host's own namespace (ZAPHOD_NET_NETNS=host). In a namespace of its own
   * (the quick start, tests) nothing outside it routes to the VMs: only forwards reach them.
   */
  bridgeOnHost: boolean;
  /** Where forwarded ports listen (the agent's `forwardAddress`). */
  forwardAddress: string;
  /** The host's name as the member's browser knows it (used when forwards listen on every address). */
  hostName: string;
  /** This VM's forwards. */
  forwards: PortForward[];
};

export type ReachWay = { command: string; note: string };

const ANY_ADDRESS = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * Every way in over SSH: straight to the VM's address when the host routes to it (nat: from the
 * host; routed: from anywhere) when the bridge is in the host's own namespace, and through each
 * forward to the VM's port 22. Isolated networks, and a bridge in a namespace of its own, have no
 * route to the VMs, so only forwards reach them.
 */
export function reachWays(input: ReachInput): ReachWay[] {
  if (input.ipv4 === null) return [];
  const ways: ReachWay[] = [];
  if (input.mode === "routed" && input.bridgeOnHost)
    ways.push({ command: `ssh root@${input.ipv4}`, note: "the VM's own address, from anywhere" });
  if (input.mode === "nat" && input.bridgeOnHost)
    ways.push({ command: `ssh root@${input.ipv4}`, note: "from the host (the VMs' network is private)" });
  const host = ANY_ADDRESS.has(input.forwardAddress) ? input.hostName : input.forwardAddress;
  for (const f of [...input.forwards].sort((a, b) => a.hostPort - b.hostPort)) {
    if (f.vmPort !== 22) continue;
    ways.push({
      command: `ssh -p ${f.hostPort} root@${host}`,
      note:
        host === "127.0.0.1" || host === "::1"
          ? `port ${f.hostPort} forwarded to the VM's SSH, on the host itself`
          : `port ${f.hostPort} forwarded to the VM's SSH`,
    });
  }
  return ways;
}

/** The address the VM can be reached at now: the running one (until its next start), else its own. */
export function reachableAddress(vm: Pick<VmNetworkInfo, "ipv4" | "liveIpv4">): string | null {
  return vm.liveIpv4 ?? vm.ipv4;
}

/**
 * What a pending address change means for the running VM (null: none pending): it keeps the address
 * it was started with until it is started again; a reboot keeps its network device, and so that address.
 */
export function addressChangeNotice(
  vm: Pick<VmNetworkInfo, "ipv4" | "liveIpv4" | "appliesAtNextBoot">,
): string | null {
  if (!vm.appliesAtNextBoot) return null;
  const now = vm.liveIpv4 ? `runs with ${vm.liveIpv4}` : "runs with no network device";
  const next = vm.ipv4 ? `its address is ${vm.ipv4}` : "it has no network address";
  return `The VM's address changed: it ${now} until its next start; from then on ${next}. Shut it down and start it to apply it (a reboot keeps the running address).`;
}

/** 1536 → "1.5 KiB"; bytes below 1 KiB as they are. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n} B`;
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** A rate limit in kbit/s as a person reads it (decimal units, as line rates are given). */
export function formatRate(kbit: number | null): string {
  if (kbit === null) return "no limit";
  if (kbit >= 1_000_000 && kbit % 1000 === 0) return `${kbit / 1_000_000} Gbit/s`;
  if (kbit >= 1000) return `${Math.round(kbit / 100) / 10} Mbit/s`;
  return `${kbit} kbit/s`;
}

/** The host name of a Host header ("panel.example.org:3000" → "panel.example.org"); anything odd → "<host>". */
export function hostNameOf(hostHeader: string | null): string {
  const m = /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$/.exec(hostHeader ?? "");
  return m?.[1] ?? "<host>";
}
