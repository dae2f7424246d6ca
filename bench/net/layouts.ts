/**
 * The networks the bench measures, one bridge namespace each (`zbench-<tag>-<k>`, with `zbr0` and
 * the host's address .1 of 10.77.<k>.0/24), two guests per network (.2 and .3, MACs made from the
 * addresses as the agent makes them). Nothing is made in the host's own namespace.
 * - `tuntap`, `vector`: the agent's own per-VM layout, built by its own code (net/vm-link.ts
 *   linkUp): in the VM's namespace a tap `tap0` → mini bridge `zb0` → veth → `zbr0`; UML runs in
 *   the VM's namespace. `tuntap` is the agent's `eth0=tuntap,tap0,<mac>`; `vector` is
 *   `vec0:transport=tap,ifname=tap0,mac=<mac>,gro=1` (the vector driver on the same tap, with
 *   virtio-net headers: checksum and TSO/GRO offload); `vector-nogro` is the same without `gro=1`
 *   (measured broken: the host's GSO frames do not fit its receive buffers).
 * - `tuntap-flat`, `vector-flat`: the same NICs on taps joined straight to `zbr0` (no per-VM
 *   namespace, bridge or veth): what the layout costs.
 * - `uml_switch`: the seed's userspace switch (`uml_switch -unix <sock> -tap zsw0`, its tap on
 *   `zbr0`), guests on `eth0=daemon,<mac>,unix,<sock>`. Every guest shares the switch's one
 *   kernel port, so per-VM packet rules are impossible there.
 * With `rules`, the agent's packet rules (net/nft.ts, isolated mode, VM-to-VM allowed) are applied
 * over every per-VM port, as the agent applies them; never on `uml_switch` (no per-VM port).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { loadConfig, type NetworkConfig } from "../../server/agent/config";
import { ensureNetns, netnsPath } from "../../server/agent/confine/netns";
import { vmNetnsName } from "../../server/agent/confine/vm-confinement";
import { baseEnv, run } from "../../server/agent/exec";
import { ipArgv } from "../../server/agent/net/host-network";
import { applyNetworkRules, type BridgePort } from "../../server/agent/net/nft";
import { linkUp, VM_TAP } from "../../server/agent/net/vm-link";
import { macFromIPv4 } from "../../server/protocol/net";

export const TRANSPORTS = [
  "tuntap",
  "vector",
  "vector-nogro",
  "uml_switch",
  "tuntap-flat",
  "vector-flat",
] as const;
export type TransportId = (typeof TRANSPORTS)[number];

export interface VmSpot {
  name: string;
  ip: string;
  mac: string;
  /** The namespace UML runs in. */
  netns: string;
  /** UML's network device argument. */
  nic: string;
}

export interface BenchNet {
  id: TransportId;
  bridgeNs: string;
  hostIp: string;
  vms: [VmSpot, VmSpot];
  /** Process groups of the network's own helpers (uml_switch), for CPU accounting and the kill. */
  helperPids: number[];
}

/** What the cleanup must remove, filled in as things are made (so a failure halfway leaves nothing). */
export interface Made {
  netns: string[];
  pids: number[];
}

const ip = (netns: string | null, ...args: string[]) => run(ipArgv(netns, ...args), { timeoutMs: 10_000 });

export async function buildNet(
  id: TransportId,
  k: number,
  o: { tag: string; dir: string; rules: boolean; made: Made },
): Promise<BenchNet> {
  const bridgeNs = `zbench-${o.tag}-${k}`;
  o.made.netns.push(bridgeNs);
  await ensureNetns(bridgeNs);
  const subnet = `10.77.${k}`;
  const hostIp = `${subnet}.1`;
  await ip(bridgeNs, "link", "add", "zbr0", "type", "bridge");
  await ip(bridgeNs, "addr", "add", `${hostIp}/24`, "dev", "zbr0");
  await ip(bridgeNs, "link", "set", "zbr0", "up");
  const guests = (["a", "b"] as const).map((x, i) => {
    const addr = `${subnet}.${i + 2}`;
    return { name: `zbench-${k}-${x}`, ip: addr, mac: macFromIPv4(addr), x };
  });
  const helperPids: number[] = [];
  const ports: BridgePort[] = [];
  const vms: VmSpot[] = [];
  const nicFor = (tap: string, mac: string): string => {
    if (id === "tuntap" || id === "tuntap-flat") return `eth0=tuntap,${tap},${mac}`;
    // Without gro=1 the driver's receive buffers are MTU-sized while the tap hands it 64 KiB GSO
    // frames (it enables TSO on the tap): "Incoming GSO frames and GRO disabled", ~0.1 MiB/s in.
    const gro = id === "vector-nogro" ? "" : ",gro=1";
    return `vec0:transport=tap,ifname=${tap},mac=${mac}${gro}`;
  };
  if (id === "uml_switch") {
    const sock = join(o.dir, `switch-${k}.ctl`);
    await ip(bridgeNs, "tuntap", "add", "dev", "zsw0", "mode", "tap");
    await ip(bridgeNs, "link", "set", "zsw0", "master", "zbr0");
    await ip(bridgeNs, "link", "set", "zsw0", "up");
    const sw = spawn("ip", ["netns", "exec", bridgeNs, "uml_switch", "-unix", sock, "-tap", "zsw0"], {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true,
      env: baseEnv() as NodeJS.ProcessEnv,
    });
    if (sw.pid) {
      o.made.pids.push(sw.pid);
      helperPids.push(sw.pid);
    }
    await waitForPath(sock, 10_000);
    for (const g of guests)
      vms.push({
        name: g.name,
        ip: g.ip,
        mac: g.mac,
        netns: bridgeNs,
        nic: `eth0=daemon,${g.mac},unix,${sock}`,
      });
  } else if (id.endsWith("-flat")) {
    for (const g of guests) {
      const tap = `zt${k}${g.x}`;
      await ip(bridgeNs, "tuntap", "add", "dev", tap, "mode", "tap");
      await ip(bridgeNs, "link", "set", tap, "master", "zbr0");
      await ip(bridgeNs, "link", "set", tap, "up");
      ports.push({ port: tap, name: g.name, mac: g.mac, ipv4: g.ip, ipv6: null });
      vms.push({ name: g.name, ip: g.ip, mac: g.mac, netns: bridgeNs, nic: nicFor(tap, g.mac) });
    }
  } else {
    const net = networkConfig(bridgeNs, subnet);
    for (const g of guests) {
      const vmDir = join(o.dir, "vms", g.name);
      o.made.netns.push(vmNetnsName(vmDir));
      const link = await linkUp(net, {
        name: g.name,
        dir: vmDir,
        user: { uid: 0, gid: 0 },
        dataDir: o.dir,
        rateLimitKbit: null,
      });
      ports.push({ port: link.port, name: g.name, mac: g.mac, ipv4: g.ip, ipv6: null });
      vms.push({ name: g.name, ip: g.ip, mac: g.mac, netns: vmNetnsName(vmDir), nic: nicFor(VM_TAP, g.mac) });
    }
  }
  if (o.rules && ports.length > 0) {
    const net = networkConfig(bridgeNs, subnet);
    await applyNetworkRules({
      netns: netnsPath(bridgeNs),
      bridge: net.bridge,
      uplink: null,
      settings: net.defaults,
      ports,
      natForwards: [],
      forwardAddress: net.forwardAddress,
    });
  }
  return { id, bridgeNs, hostIp, vms: vms as [VmSpot, VmSpot], helperPids };
}

/** The agent's own reading of ZAPHOD_NET_* for the bench's bridge: isolated, no IPv6, vector. */
function networkConfig(bridgeNs: string, subnet: string): NetworkConfig {
  const env: Record<string, string> = {
    ZAPHOD_NET_NETNS: bridgeNs,
    ZAPHOD_NET_SUBNET: `${subnet}.0/24`,
    ZAPHOD_NET_IPV6_PREFIX: "none",
  };
  const net = loadConfig(env as NodeJS.ProcessEnv).network;
  if (!net) throw new Error("the bench's network configuration did not parse");
  return net;
}

async function waitForPath(path: string, timeoutMs: number): Promise<void> {
  const { access } = await import("node:fs/promises");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} did not appear in ${timeoutMs} ms`);
}
