/**
 * The host network's packet rules (issue 12 points 5 and 1): one nftables ruleset for the bridge's
 * namespace, rebuilt whole and applied atomically (one `nft -f -` transaction on stdin) whenever a
 * VM's port comes or goes or the settings change. Interface fixed by the networking core
 * (net/network.ts calls it). Three tables, all named `zaphod-*`, nothing else in the namespace is
 * touched:
 * - `bridge zaphod-bridge`: anti-spoofing per VM port (its MAC, IPv4, IPv6/link-local, ARP and
 *   neighbour advertisements with its own addresses; no router advertisements or DHCP server
 *   replies from VMs; other ethertypes, VLAN tags included, dropped), VM-to-VM frames per `vmToVm`.
 * - `inet zaphod-filter`: the host's own services (from the bridge only DNS to the gateway, ICMP
 *   and replies), VM-to-VM routed through the gateway per `vmToVm`, outbound SMTP (tcp 25), the
 *   mode (isolated: nothing leaves or enters the bridge; nat: out, and in only as replies or port
 *   forwards; routed: both ways).
 * - `ip zaphod-nat`: masquerade of the VM subnet (nat mode) and the DNAT port forwards.
 */
import type { HostNetworkSettings, PortForward } from "../../protocol/agent";
import { formatCidr, ipv6FromMac, MAC_RE, parseCidr, parseIPv4, parseIPv6 } from "../../protocol/net";
import { run } from "../exec";
import { listenAddresses } from "./dns";

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
  /** Address the DNAT forwards listen on; 0.0.0.0: every address of the namespace but loopback. */
  forwardAddress: string;
}

/** Every table this module owns (family, name). */
export const TABLES = [
  ["bridge", "zaphod-bridge"],
  ["inet", "zaphod-filter"],
  ["ip", "zaphod-nat"],
] as const;

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function ifname(name: string): string {
  if (!IFNAME.test(name)) throw new Error(`${JSON.stringify(name.slice(0, 32))} is not an interface name`);
  return `"${name}"`;
}

function ipv4(text: string): string {
  parseIPv4(text);
  return text;
}

function ipv6(text: string): string {
  parseIPv6(text);
  return text;
}

/** An IPv6 address as a 128-bit number (nft 1.0.6 has no `icmpv6 taddr`: the target is raw payload). */
function ipv6Hex(text: string): string {
  return `0x${parseIPv6(text)
    .map((g) => g.toString(16).padStart(4, "0"))
    .join("")}`;
}

function mac(text: string): string {
  if (!MAC_RE.test(text)) throw new Error(`${JSON.stringify(text.slice(0, 32))} is not a MAC address`);
  return text;
}

function set(items: string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(", ")} }`;
}

/** The chain for one VM port: everything it may send; the rest is dropped. */
function portChain(index: number, p: BridgePort): string[] {
  const m = mac(p.mac);
  const v4 = ipv4(p.ipv4);
  const linkLocal = ipv6FromMac("fe80::/64", m);
  const own6 = p.ipv6 ? [ipv6(p.ipv6), linkLocal] : [linkLocal];
  return [
    `  chain port${index} {`,
    `    # ${p.name}`,
    `    ether saddr != ${m} drop`,
    // ARP: its own MAC and address as sender (0.0.0.0: an RFC 5227 probe, which teaches no one).
    `    ether type arp arp saddr ether != ${m} drop`,
    `    ether type arp arp saddr ip != { ${v4}, 0.0.0.0 } drop`,
    "    ether type arp accept",
    `    ether type ip ip saddr != ${v4} drop`,
    "    ether type ip udp sport 67 drop",
    "    ether type ip accept",
    // IPv6: its address or link-local, `::` only for duplicate address detection (ICMPv6).
    `    ether type ip6 ip6 saddr != { ${[...own6, "::"].join(", ")} } drop`,
    "    ether type ip6 ip6 saddr :: meta l4proto != ipv6-icmp drop",
    "    ether type ip6 icmpv6 type { nd-router-advert, nd-redirect, 138 } drop",
    // A neighbour advertisement's target (8 bytes into the ICMPv6 header): only its own addresses.
    `    ether type ip6 icmpv6 type nd-neighbor-advert @th,64,128 != ${set(own6.map(ipv6Hex))} drop`,
    "    ether type ip6 udp sport 547 drop",
    "    ether type ip6 accept",
    "    drop",
    "  }",
  ];
}

/** The whole ruleset as `nft -f -` text: each zaphod table created, emptied and rebuilt in one transaction. */
export function rulesetText(input: NetRulesInput): string {
  const s = input.settings;
  const br = ifname(input.bridge);
  const subnet = formatCidr(parseCidr(s.ipv4Subnet));
  const gateway = ipv4(s.gateway);
  const ports = input.ports.map((p) => ifname(p.port));
  const lines: string[] = [];
  for (const [family, name] of TABLES)
    lines.push(`add table ${family} ${name}`, `delete table ${family} ${name}`);

  // Layer 2, on the bridge's ports.
  lines.push("table bridge zaphod-bridge {");
  input.ports.forEach((p, i) => {
    lines.push(...portChain(i, p));
  });
  lines.push("  chain prerouting {", "    type filter hook prerouting priority -200; policy accept;");
  input.ports.forEach((p, i) => {
    lines.push(`    iifname ${ifname(p.port)} goto port${i}`);
  });
  // (A port with no rules yet is not dropped here: `meta ibrname` is not supported by this kernel,
  // and other bridges of the host's namespace must keep working; the core applies the rules before
  // it joins a port to the bridge.)
  lines.push("  }");
  lines.push("  chain forward {", "    type filter hook forward priority 0; policy accept;");
  if (!s.vmToVm && ports.length > 0) lines.push(`    iifname ${set(ports)} oifname ${set(ports)} drop`);
  lines.push("  }", "}");

  // Layer 3, the bridge's interface as the gateway sees it.
  lines.push("table inet zaphod-filter {");
  lines.push("  chain input {", "    type filter hook input priority -10; policy accept;");
  lines.push(`    iifname ${br} jump from_vms`, "  }");
  lines.push(
    "  chain from_vms {",
    "    ct state established,related accept",
    "    meta l4proto { icmp, ipv6-icmp } accept",
    `    ip daddr ${gateway} meta l4proto { tcp, udp } th dport 53 accept`,
    // The resolver (net/dns.ts) also answers on the IPv6 prefix's ::1.
    ...listenAddresses(s)
      .filter((a) => a.includes(":"))
      .map((a) => `    ip6 daddr ${a} meta l4proto { tcp, udp } th dport 53 accept`),
    "    drop",
    "  }",
  );
  lines.push("  chain forward {", "    type filter hook forward priority -10; policy accept;");
  lines.push(`    iifname ${br} oifname ${br} ${s.vmToVm ? "accept" : "drop"}`);
  if (s.mode === "isolated") {
    lines.push(`    iifname ${br} drop`, `    oifname ${br} drop`);
  } else {
    if (!s.outboundSmtp) lines.push(`    iifname ${br} tcp dport 25 drop`);
    lines.push("    ct state established,related accept");
    lines.push(`    iifname ${br} ip saddr ${subnet} accept`);
    if (s.ipv6Prefix) lines.push(`    iifname ${br} ip6 saddr ${s.ipv6Prefix} accept`);
    lines.push(`    iifname ${br} drop`);
    if (s.mode === "nat") lines.push(`    oifname ${br} ct status dnat accept`, `    oifname ${br} drop`);
    else lines.push(`    oifname ${br} accept`);
  }
  lines.push("  }", "}");

  // NAT.
  lines.push("table ip zaphod-nat {");
  const dnat = input.natForwards.map((f) => {
    const port = (n: number) => {
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${n} is not a port`);
      return n;
    };
    // 0.0.0.0: any local address (loopback cannot be DNATed out without route_localnet).
    const to =
      ipv4(input.forwardAddress) === "0.0.0.0"
        ? "ip daddr != 127.0.0.0/8 fib daddr type local"
        : `ip daddr ${input.forwardAddress}`;
    return `    ${to} tcp dport ${port(f.hostPort)} dnat to ${ipv4(f.ipv4)}:${port(f.vmPort)}`;
  });
  lines.push(
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    ...dnat,
    "  }",
  );
  lines.push("  chain output {", "    type nat hook output priority -100; policy accept;", ...dnat, "  }");
  lines.push("  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;");
  if (s.mode === "nat") {
    const out = input.uplink ? `oifname ${ifname(input.uplink)}` : `oifname != ${br}`;
    lines.push(`    ip saddr ${subnet} ip daddr != ${subnet} ${out} masquerade`);
  }
  // A forward's reply from a VM that the host itself connected to (output DNAT) needs no source change.
  lines.push("  }", "}");
  return `${lines.join("\n")}\n`;
}

function nftArgv(netns: string | null, args: string[]): string[] {
  if (netns === null) return ["nft", ...args];
  if (!/^\/run\/netns\/[A-Za-z0-9_.-]{1,64}$/.test(netns))
    throw new Error(`${netns} is not a /run/netns path`);
  return ["nsenter", `--net=${netns}`, "--", "nft", ...args];
}

/** Applies the whole ruleset in one transaction (all or nothing). */
export async function applyNetworkRules(input: NetRulesInput): Promise<void> {
  await run(nftArgv(input.netns, ["-f", "-"]), { input: rulesetText(input), timeoutMs: 15_000 });
}

/** Checks the ruleset's syntax without applying it (`nft --check`). */
export async function checkNetworkRules(input: NetRulesInput): Promise<void> {
  await run(nftArgv(input.netns, ["--check", "-f", "-"]), { input: rulesetText(input), timeoutMs: 15_000 });
}

/** Removes every zaphod table from the namespace (networking off, or the tests' cleanup). */
export async function removeNetworkRules(netns: string | null): Promise<void> {
  const text = TABLES.map(
    ([family, name]) => `add table ${family} ${name}\ndelete table ${family} ${name}\n`,
  ).join("");
  await run(nftArgv(netns, ["-f", "-"]), { input: text, timeoutMs: 15_000 });
}
