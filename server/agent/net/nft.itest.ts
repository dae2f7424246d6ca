/**
 * Issue 12 points 5 and 8, as root, in namespaces this file makes and removes (never the host's
 * own): a "bridge" netns with zbr0 and the gateway address, two "VM" netns each joined to the
 * bridge by a veth (standing for VMs: the rules act on the veth end in the bridge's namespace, as
 * with a real VM), and an "internet" netns on the bridge netns's uplink. Each attack runs first
 * with no rules (it gets through: the hole is real), then with the rules of net/nft.ts (it fails).
 * Servers and clients are node (testing/net-tool.mjs) inside `ip netns exec`; every wait is bounded.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostNetworkSettings } from "../../protocol/agent";
import { run } from "../exec";
import { applyNetworkRules, checkNetworkRules, type NetRulesInput, removeNetworkRules } from "./nft";
import { startNetTool, NET_TOOL as TOOL } from "./testing/guests";

const tag = randomBytes(3).toString("hex");
const NS = { br: `zt${tag}-br`, a: `zt${tag}-a`, b: `zt${tag}-b`, inet: `zt${tag}-inet` };
const PORT_A = `zv${tag}a`;
const PORT_B = `zv${tag}b`;
const GW = "10.77.0.1";
const GW6 = "fd00:77::1";
const UPLINK6 = "fd00:99::1";
const INET6 = "fd00:99::2";
const A = { ip: "10.77.0.2", mac: "fe:fd:0a:4d:00:02", ip6: "fd00:77::fcfd:aff:fe4d:2" };
const B = { ip: "10.77.0.3", mac: "fe:fd:0a:4d:00:03", ip6: "fd00:77::fcfd:aff:fe4d:3" };
const UPLINK = "192.0.2.1";
const INET = "192.0.2.2";

const base: HostNetworkSettings = {
  mode: "routed",
  ipv4Subnet: "10.77.0.0/24",
  gateway: GW,
  poolFirst: "10.77.0.2",
  poolLast: "10.77.0.254",
  ipv6Prefix: "fd00:77::/64",
  dns: [GW],
  vmToVm: false,
  outboundSmtp: false,
};

function input(settings: Partial<HostNetworkSettings> = {}): NetRulesInput {
  return {
    netns: `/run/netns/${NS.br}`,
    bridge: "zbr0",
    uplink: null,
    settings: { ...base, ...settings },
    ports: [
      { port: PORT_A, name: "a", mac: A.mac, ipv4: A.ip, ipv6: A.ip6 },
      { port: PORT_B, name: "b", mac: B.mac, ipv4: B.ip, ipv6: B.ip6 },
    ],
    natForwards: [],
    forwardAddress: UPLINK,
  };
}

let dir = "";
const servers: ChildProcess[] = [];
const made: string[] = [];

const ip = (ns: string, ...args: string[]) => run(["ip", "-n", ns, ...args]);
const inNs = (ns: string, argv: string[]) => run(["ip", "netns", "exec", ns, ...argv], { timeoutMs: 20_000 });

const server = (ns: string, args: string[]) => startNetTool(ns, args, servers);

/** The server's answer (its view of our address), or "fail". */
async function connectFrom(ns: string, host: string, port: number): Promise<string> {
  return (await inNs(ns, ["node", TOOL, "tcp-connect", host, String(port), "2000"])).stdout.trim();
}

/** The source address a UDP listener saw our (unique) message from, or null within 2 s. */
async function udpSeenFrom(ns: string, host: string, port: number, file: string): Promise<string | null> {
  const msg = randomBytes(6).toString("hex");
  const deadline = Date.now() + 2000;
  await inNs(ns, ["node", TOOL, "udp-send", host, String(port), msg]);
  while (Date.now() < deadline) {
    const line = (await readFile(file, "utf8").catch(() => ""))
      .split("\n")
      .find((l) => l.endsWith(` ${msg}`));
    if (line) return line.split(" ")[0] ?? null;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function flushNeighbours(): Promise<void> {
  await ip(NS.br, "neigh", "flush", "dev", "zbr0");
  await ip(NS.a, "neigh", "flush", "dev", "eth0");
  await ip(NS.b, "neigh", "flush", "dev", "eth0");
}

/** VM A takes `addr` and `mac` (root in a VM can), then its route back. */
async function setA(addr: string, mac: string, addr6 = A.ip6): Promise<void> {
  await ip(NS.a, "link", "set", "eth0", "down");
  await ip(NS.a, "link", "set", "eth0", "address", mac);
  await ip(NS.a, "addr", "flush", "dev", "eth0");
  await ip(NS.a, "addr", "add", `${addr}/24`, "dev", "eth0");
  await ip(NS.a, "addr", "add", `${addr6}/64`, "dev", "eth0", "nodad");
  await ip(NS.a, "link", "set", "eth0", "up");
  await ip(NS.a, "route", "replace", "default", "via", GW);
  await ip(NS.a, "-6", "route", "replace", "default", "via", GW6);
  await flushNeighbours();
  // A spoofer needs no neighbour discovery to send: the gateway's MAC, pinned (the reply to its
  // own solicitation would go to B, so without this the no-rules case raced).
  if (addr6 !== A.ip6) {
    const gwMac = (
      JSON.parse((await ip(NS.br, "-j", "link", "show", "zbr0")).stdout) as { address: string }[]
    )[0]?.address as string;
    await ip(NS.a, "neigh", "replace", GW6, "lladdr", gwMac, "dev", "eth0", "nud", "permanent");
  }
}

async function gatewayNeighbourMac(addr: string): Promise<string> {
  return (await ip(NS.br, "neigh", "show", addr, "dev", "zbr0")).stdout;
}

const gwUdp = () => join(dir, "gw-udp");
const inetUdp = () => join(dir, "inet-udp");
const inet6Udp = () => join(dir, "inet6-udp");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "zaphod-nft-itest-"));
  for (const ns of Object.values(NS)) {
    await run(["ip", "netns", "add", ns]);
    made.push(ns);
    await ip(ns, "link", "set", "lo", "up");
  }
  await ip(NS.br, "link", "add", "zbr0", "type", "bridge");
  await ip(NS.br, "addr", "add", `${GW}/24`, "dev", "zbr0");
  await ip(NS.br, "addr", "add", `${GW6}/64`, "dev", "zbr0", "nodad");
  await ip(NS.br, "link", "set", "zbr0", "up");
  await inNs(NS.br, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
  for (const [ns, port, vm] of [
    [NS.a, PORT_A, A],
    [NS.b, PORT_B, B],
  ] as const) {
    await ip(NS.br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
    await ip(NS.br, "link", "set", port, "master", "zbr0", "up");
    await ip(ns, "link", "set", "eth0", "address", vm.mac);
    await ip(ns, "addr", "add", `${vm.ip}/24`, "dev", "eth0");
    await ip(ns, "addr", "add", `${vm.ip6}/64`, "dev", "eth0", "nodad");
    await ip(ns, "link", "set", "eth0", "up");
    await ip(ns, "route", "add", "default", "via", GW);
    await ip(ns, "-6", "route", "add", "default", "via", GW6);
  }
  await ip(NS.br, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", NS.inet);
  await ip(NS.br, "addr", "add", `${UPLINK}/24`, "dev", "up0");
  await ip(NS.br, "link", "set", "up0", "up");
  await ip(NS.inet, "addr", "add", `${INET}/24`, "dev", "eth0");
  await ip(NS.inet, "link", "set", "eth0", "up");
  await ip(NS.inet, "route", "add", "10.77.0.0/24", "via", UPLINK);
  await ip(NS.br, "addr", "add", `${UPLINK6}/64`, "dev", "up0", "nodad");
  await ip(NS.inet, "addr", "add", `${INET6}/64`, "dev", "eth0", "nodad");
  await ip(NS.inet, "-6", "route", "add", "fd00:77::/64", "via", UPLINK6);
  await writeFile(gwUdp(), "");
  await writeFile(inet6Udp(), "");
  await server(NS.inet, ["udp-listen", "9999", INET6, inet6Udp()]);
  await writeFile(inetUdp(), "");
  await server(NS.br, ["udp-listen", "53", GW, gwUdp()]);
  await server(NS.br, ["tcp-listen", "53", GW]);
  await server(NS.br, ["tcp-listen", "8080", GW]);
  await server(NS.inet, ["udp-listen", "9999", INET, inetUdp()]);
  for (const port of ["25", "587", "8080"]) await server(NS.inet, ["tcp-listen", port, INET]);
  await server(NS.b, ["tcp-listen", "8080", B.ip]);
});

afterAll(async () => {
  for (const child of servers) if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  for (const ns of made.reverse()) await run(["ip", "netns", "delete", ns], { allowFailure: true });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("nft rules in test namespaces (issue 12 point 5)", () => {
  it("with no rules the attacks get through (the holes the rules close are real)", async () => {
    await setA(B.ip, A.mac);
    expect(await udpSeenFrom(NS.a, GW, 53, gwUdp())).toBe(B.ip);
    expect(await gatewayNeighbourMac(B.ip)).toContain(A.mac);
    expect(await udpSeenFrom(NS.a, INET, 9999, inetUdp())).toBe(B.ip);
    await setA(A.ip, A.mac, B.ip6);
    expect(await udpSeenFrom(NS.a, INET6, 9999, inet6Udp())).toBe(B.ip6);
    await setA(A.ip, B.mac);
    expect(await udpSeenFrom(NS.a, GW, 53, gwUdp())).toBe(A.ip);
    await setA(A.ip, A.mac);
    expect(await connectFrom(NS.a, B.ip, 8080)).toBe(A.ip);
    expect(await connectFrom(NS.a, GW, 8080)).toBe(A.ip);
    expect(await connectFrom(NS.a, INET, 25)).toBe(A.ip);
  });

  it("check 45: VM A with B's IP address gets nothing through (gateway, internet, ARP)", async () => {
    await applyNetworkRules(input());
    await setA(B.ip, A.mac);
    expect(await udpSeenFrom(NS.a, GW, 53, gwUdp())).toBeNull();
    expect(await udpSeenFrom(NS.a, INET, 9999, inetUdp())).toBeNull();
    expect(await gatewayNeighbourMac(B.ip)).not.toContain(A.mac);
    expect(
      (await inNs(NS.a, ["busybox", "ping", "-c", "1", "-W", "1", GW]).catch((e) => e.result)).code,
    ).not.toBe(0);
  });

  it("check 45: VM A with B's IPv6 address gets nothing through (its neighbour discovery neither)", async () => {
    await setA(A.ip, A.mac, B.ip6);
    expect(await udpSeenFrom(NS.a, INET6, 9999, inet6Udp())).toBeNull();
  });

  it("check 45: VM A with B's MAC address gets nothing through", async () => {
    await setA(A.ip, B.mac);
    expect(await udpSeenFrom(NS.a, GW, 53, gwUdp())).toBeNull();
    expect(await udpSeenFrom(NS.a, INET, 9999, inetUdp())).toBeNull();
    expect(
      (await inNs(NS.a, ["busybox", "ping", "-c", "1", "-W", "1", GW]).catch((e) => e.result)).code,
    ).not.toBe(0);
  });

  it("VM A as itself reaches the gateway's DNS, pings it and reaches the internet", async () => {
    await setA(A.ip, A.mac);
    expect(await udpSeenFrom(NS.a, GW, 53, gwUdp())).toBe(A.ip);
    expect(await udpSeenFrom(NS.a, INET6, 9999, inet6Udp())).toBe(A.ip6);
    expect(await connectFrom(NS.a, GW, 53)).toBe(A.ip);
    expect((await inNs(NS.a, ["busybox", "ping", "-c", "1", "-W", "2", GW])).code).toBe(0);
    expect((await inNs(NS.a, ["busybox", "ping", "-6", "-c", "1", "-W", "2", GW6])).code).toBe(0);
    expect(await connectFrom(NS.a, INET, 8080)).toBe(A.ip);
  });

  it("check 46: VM A cannot reach a service of the host on the gateway's address (non-DNS port)", async () => {
    expect(await connectFrom(NS.a, GW, 8080)).toBe("fail");
    expect(await connectFrom(NS.a, UPLINK, 8080)).toBe("fail");
  });

  it("A reaches B only when vmToVm allows it", async () => {
    expect(await connectFrom(NS.a, B.ip, 8080)).toBe("fail");
    await applyNetworkRules(input({ vmToVm: true }));
    expect(await connectFrom(NS.a, B.ip, 8080)).toBe(A.ip);
    await applyNetworkRules(input({ vmToVm: false }));
    expect(await connectFrom(NS.a, B.ip, 8080)).toBe("fail");
  });

  it("outbound SMTP blocked: port 25 fails while 587 connects; allowed: 25 connects", async () => {
    expect(await connectFrom(NS.a, INET, 25)).toBe("fail");
    expect(await connectFrom(NS.a, INET, 587)).toBe(A.ip);
    await applyNetworkRules(input({ outboundSmtp: true }));
    expect(await connectFrom(NS.a, INET, 25)).toBe(A.ip);
  });

  it("nat mode: the internet sees the uplink's address; routed: the VM's own", async () => {
    await applyNetworkRules(input({ mode: "nat" }));
    expect(await connectFrom(NS.a, INET, 8080)).toBe(UPLINK);
    await applyNetworkRules({ ...input({ mode: "nat" }), uplink: "up0" });
    expect(await connectFrom(NS.a, INET, 8080)).toBe(UPLINK);
    expect(await connectFrom(NS.inet, A.ip, 22)).toBe("fail");
    await applyNetworkRules(input({ mode: "routed" }));
    expect(await connectFrom(NS.a, INET, 8080)).toBe(A.ip);
  });

  it("isolated mode: nothing leaves the bridge; the gateway's DNS still answers", async () => {
    await applyNetworkRules(input({ mode: "isolated" }));
    expect(await connectFrom(NS.a, INET, 8080)).toBe("fail");
    expect(await connectFrom(NS.a, GW, 53)).toBe(A.ip);
  });

  it("nft -c accepts the ruleset of every setting, and removeNetworkRules leaves no zaphod table", async () => {
    for (const mode of ["isolated", "nat", "routed"] as const)
      for (const vmToVm of [false, true])
        for (const outboundSmtp of [false, true])
          await checkNetworkRules({
            ...input({ mode, vmToVm, outboundSmtp, ipv6Prefix: vmToVm ? null : base.ipv6Prefix }),
            natForwards: [{ hostPort: 2201, name: "a", vmPort: 22, ipv4: A.ip }],
          });
    await checkNetworkRules({ ...input(), ports: [] });
    await applyNetworkRules(input());
    expect((await inNs(NS.br, ["nft", "list", "tables"])).stdout).toContain("zaphod-bridge");
    await removeNetworkRules(`/run/netns/${NS.br}`);
    expect((await inNs(NS.br, ["nft", "list", "tables"])).stdout).not.toContain("zaphod");
  });
});
