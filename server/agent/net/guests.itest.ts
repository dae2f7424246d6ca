/**
 * Issue 12 points 5 and 8 with real VMs: a real agent with networking on in a namespace this test
 * makes, two busybox UML VMs A and B on its bridge, and an "internet" namespace on an uplink veth
 * from the bridge's namespace (its default route). Settings change through host.setNetwork between
 * tests; guest commands run as root over SSH from the bridge's namespace (the member's key,
 * StrictHostKeyChecking=yes). A spoofing B's IPv4, MAC or IPv6: nft counters (a table of this test's,
 * beside the agent's) show A's tap sent the spoofed frames and that none reached the gateway, any
 * bridge port (B) or the internet; then A as itself reaches all three, seen by the same counters.
 * A cannot reach services of the host (servers in the bridge's namespace on the gateway's and the
 * uplink's address). Nothing runs in, or sends to, the host's own namespace; everything goes in
 * afterAll.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostNetworkSettings } from "../../protocol/agent";
import { deleteNetns } from "../confine/netns";
import { vmNetnsName } from "../confine/vm-confinement";
import { run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";
import { createNetVms, guestSsh, memberKey, NET_TOOL, startNetTool, waitForGuestSsh } from "./testing/guests";
import { uplinkName } from "./vm-link";

const tag = randomBytes(3).toString("hex");
const NS = `zt${tag}-gbr`;
const INET_NS = `zt${tag}-inet`;
const GW = "10.77.0.1";
const GW6 = "fd00:77::1";
const A = { name: "gsta", ipv4: "10.77.0.10", mac: "fe:fd:0a:4d:00:0a", ipv6: "fd00:77::fcfd:aff:fe4d:a" };
const B = { name: "gstb", ipv4: "10.77.0.11", mac: "fe:fd:0a:4d:00:0b", ipv6: "fd00:77::fcfd:aff:fe4d:b" };
/** An address nobody has, whose neighbour A pins to B's MAC: a unicast frame straight to B. */
const TO_B = "10.77.0.99";
const UPLINK = "192.0.2.1";
const INET = "192.0.2.2";

let h: Harness | undefined;
let keyFile = "";
let base: HostNetworkSettings;
let gatewayMac = "";
const servers: ChildProcess[] = [];
const made: string[] = [];

const harness = (): Harness => {
  if (!h) throw new Error("no harness");
  return h;
};
const ip = (ns: string, ...args: string[]) => run(["ip", "-n", ns, ...args], { timeoutMs: 10_000 });
const inNs = (ns: string, argv: string[], input?: string) =>
  run(["ip", "netns", "exec", ns, ...argv], { timeoutMs: 15_000, input });
const guest = (vm: typeof A) => ({ netns: NS, keyFile, name: vm.name, ipv4: vm.ipv4 });
const inGuest = async (vm: typeof A, command: string) =>
  (await guestSsh(harness(), guest(vm), command)).stdout;
const vmNetns = (vm: typeof A) => vmNetnsName(join(harness().dataDir, "vms", vm.name));

async function settings(patch: Partial<HostNetworkSettings>): Promise<void> {
  await harness().client.call("host.setNetwork", { settings: { ...base, ...patch } });
}

/** busybox nc from the guest: the server's answer (its view of our address), "" when it failed. */
const connect = (vm: typeof A, host: string, port: number) =>
  inGuest(vm, `timeout 6 nc -w 3 ${host} ${port} </dev/null`).then((s) => s.trim());

// ---- Observers: an nft table of this test's ("ztobs") with one named counter, in three places.

type Identity = { mac: string; ipv4: string; ipv6: string };

/** Frames with this source MAC and IPv4 (as IP source or ARP sender) or IPv6 source. */
function matches(id: Identity, prefix: string): string[] {
  return [
    `${prefix} ether saddr ${id.mac} ether type ip ip saddr ${id.ipv4} counter name "hits"`,
    `${prefix} ether saddr ${id.mac} ether type arp arp saddr ip ${id.ipv4} counter name "hits"`,
    `${prefix} ether saddr ${id.mac} ether type ip6 ip6 saddr ${id.ipv6} counter name "hits"`,
  ];
}

function table(family: string, chains: [string, string, string[]][], name = "ztobs"): string {
  const lines = [
    `add table ${family} ${name}`,
    `delete table ${family} ${name}`,
    `table ${family} ${name} {`,
  ];
  lines.push("  counter hits {}");
  for (const [name, hook, rules] of chains)
    lines.push(`  chain ${name} {`, `    type filter hook ${hook}; policy accept;`, ...rules, "  }");
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/**
 * Fresh counters for `id`: sent (what leaves A's tap in A's own namespace, before any rule),
 * bridge (what reaches the gateway or leaves any bridge port, after the agent's rules) and
 * internet (IPv4 from the address arriving in the internet namespace).
 */
async function observe(id: Identity): Promise<void> {
  await inNs(
    vmNetns(A),
    ["nft", "-f", "-"],
    table("bridge", [["pre", "prerouting priority -300", matches(id, '    iifname "tap0"')]]),
  );
  await inNs(
    NS,
    ["nft", "-f", "-"],
    table("bridge", [
      ["in", "input priority 300", matches(id, "   ")],
      ["post", "postrouting priority 300", matches(id, "   ")],
    ]),
  );
  await inNs(
    INET_NS,
    ["nft", "-f", "-"],
    table("inet", [["in", "prerouting priority -300", [`    ip saddr ${id.ipv4} counter name "hits"`]]]),
  );
}

async function hits(ns: string, family: string, name = "ztobs"): Promise<number> {
  const out = await inNs(ns, ["nft", "-j", "list", "counter", family, name, "hits"]);
  const items = (JSON.parse(out.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
  return items.find((i) => i.counter)?.counter?.packets ?? -1;
}

async function counts(): Promise<{ sent: number; bridge: number; internet: number }> {
  return {
    sent: await hits(vmNetns(A), "bridge"),
    bridge: await hits(NS, "bridge"),
    internet: await hits(INET_NS, "inet"),
  };
}

/**
 * Runs `script` in A detached from the SSH session (A loses its network while it runs; the
 * script puts it back and says `spoof-done`), then waits for it (60 s at most); returns its log.
 */
async function inGuestDetached(vm: typeof A, script: string[]): Promise<string> {
  const body = ["sleep 1", ...script, "echo spoof-done"].join("\n");
  if (body.includes("'")) throw new Error("no quotes in a detached script");
  await inGuest(vm, `rm -f /tmp/spoof.log; setsid sh -c '${body}' >/tmp/spoof.log 2>&1 </dev/null &`);
  await new Promise((r) => setTimeout(r, 6000));
  const deadline = Date.now() + 60_000;
  let log = "";
  while (Date.now() < deadline && !log.includes("spoof-done")) {
    log = await inGuest(vm, "cat /tmp/spoof.log").catch(() => "");
    if (!log.includes("spoof-done")) await new Promise((r) => setTimeout(r, 1000));
  }
  expect(log).toContain("spoof-done");
  return log;
}

/** A as itself: it pings the gateway, reaches B's server and the internet's (routed mode, vmToVm on). */
async function normalAgain(): Promise<void> {
  await observe(A);
  expect(await inGuest(A, `ping -c 2 -i 0.3 -W 2 ${GW} >/dev/null && echo pong`)).toContain("pong");
  expect(await inGuest(A, `ping6 -c 2 -i 0.3 -W 2 ${GW6} >/dev/null && echo pong`)).toContain("pong");
  expect(await connect(A, B.ipv4, 8080)).toBe(B.name);
  expect(await connect(A, INET, 8080)).toBe(A.ipv4);
  const c = await counts();
  expect(c.sent).toBeGreaterThan(0);
  expect(c.bridge).toBeGreaterThan(0);
  expect(c.internet).toBeGreaterThan(0);
}

beforeAll(async () => {
  for (const ns of [NS, INET_NS]) {
    await run(["ip", "netns", "add", ns]);
    made.push(ns);
    await ip(ns, "link", "set", "lo", "up");
  }
  // The uplink: bridge namespace (up0, UPLINK) <-> internet (eth0, INET); default route through it.
  await ip(NS, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", INET_NS);
  await ip(NS, "addr", "add", `${UPLINK}/24`, "dev", "up0");
  await ip(NS, "link", "set", "up0", "up");
  await ip(NS, "route", "add", "default", "via", INET);
  await ip(INET_NS, "addr", "add", `${INET}/24`, "dev", "eth0");
  await ip(INET_NS, "link", "set", "eth0", "up");
  // Routed mode: the internet's way back to the VMs' subnet.
  await ip(INET_NS, "route", "add", "10.77.0.0/24", "via", UPLINK);
  for (const port of ["8080", "25", "587"]) await startNetTool(INET_NS, ["tcp-listen", port, INET], servers);

  h = await createHarness({ confine: true });
  h.env.ZAPHOD_NET_NETNS = NS;
  h.env.ZAPHOD_NET_MODE = "routed";
  await h.startAgent();
  const key = await memberKey(h);
  keyFile = key.keyFile;
  await createNetVms(h, { [A.name]: A.ipv4, [B.name]: B.ipv4 }, key.line);
  base = (await h.client.call("host.network", {})).settings;
  for (const vm of [A, B]) {
    const task = await h.client.run("vm.start", { name: vm.name });
    if (task.result?.stage !== "up") {
      const consoleLog = await readFile(
        join(h.dataDir, "vms", vm.name, "console", "boot-1.log"),
        "latin1",
      ).catch((e: Error) => e.message);
      throw new Error(
        `${vm.name} did not come up: ${JSON.stringify(task).slice(0, 1500)}\nagent: ${h.agentLog.join("").slice(-3000)}\nconsole: ${consoleLog.slice(-3000)}`,
      );
    }
    const out = await waitForGuestSsh(h, guest(vm));
    expect(out.stdout.trim(), out.stderr).toBe("hi");
  }
  // Services of the host (the bridge's namespace stands for it) on the gateway's and the uplink's address.
  for (const address of [GW, UPLINK]) await startNetTool(NS, ["tcp-listen", "8080", address], servers);
  // B's server answers each connection with its hostname.
  await inGuest(B, "setsid nc -ll -p 8080 -e /bin/hostname </dev/null >/dev/null 2>&1 &");
  await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
  // Routed and nat need forwarding in the bridge's namespace: the agent turns it on (a new
  // namespace starts with the host's, 0 here).
  expect((await inNs(NS, ["sysctl", "-n", "net.ipv4.ip_forward"])).stdout.trim()).toBe("1");
  gatewayMac = (JSON.parse((await ip(NS, "-j", "link", "show", "zbr0")).stdout) as { address: string }[])[0]
    ?.address as string;
}, 240_000);

afterAll(async () => {
  for (const child of servers) if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  await h?.cleanup().catch(() => undefined);
  for (const ns of made.reverse()) await deleteNetns(ns).catch(() => undefined);
}, 90_000);

describe("real VMs on the bridge (issue 12 points 5 and 8)", () => {
  it("check 45: A with B's IPv4 gets nothing through to the gateway, B or the internet; then it is itself again", async () => {
    await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
    await normalAgain();
    await observe({ mac: A.mac, ipv4: B.ipv4, ipv6: B.ipv6 });
    const log = await inGuestDetached(A, [
      `ip addr del ${A.ipv4}/24 dev eth0`,
      `ip addr add ${B.ipv4}/24 dev eth0`,
      `ip route replace default via ${GW}`,
      `arp -i eth0 -s ${GW} ${gatewayMac}`,
      `arp -i eth0 -s ${TO_B} ${B.mac}`,
      `ping -c 2 -W 1 ${GW}`,
      `ping -c 2 -W 1 ${TO_B}`,
      `timeout 5 nc -w 2 ${INET} 8080 </dev/null`,
      `arping -c 2 -w 2 -I eth0 ${GW}`,
      `arping -U -c 2 -w 2 -I eth0 ${B.ipv4}`,
      `arp -i eth0 -d ${GW}`,
      `arp -i eth0 -d ${TO_B}`,
      `ip addr del ${B.ipv4}/24 dev eth0`,
      `ip addr add ${A.ipv4}/24 dev eth0`,
      `ip route replace default via ${GW}`,
    ]);
    const c = await counts();
    expect(c.sent, log).toBeGreaterThan(4);
    expect(c).toMatchObject({ bridge: 0, internet: 0 });
    // The gateway did not learn B's address at A's MAC (no ARP poisoning).
    expect((await ip(NS, "neigh", "show", B.ipv4, "dev", "zbr0")).stdout).not.toContain(A.mac);
    await normalAgain();
  }, 120_000);

  it("check 45: A with B's MAC gets nothing through; then it is itself again", async () => {
    await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
    await observe({ mac: B.mac, ipv4: A.ipv4, ipv6: A.ipv6 });
    const log = await inGuestDetached(A, [
      "ip link set eth0 down",
      `ip link set eth0 address ${B.mac}`,
      "ip link set eth0 up",
      `ip route replace default via ${GW}`,
      `arp -i eth0 -s ${GW} ${gatewayMac}`,
      `arp -i eth0 -s ${B.ipv4} ${B.mac}`,
      "ip link show eth0",
      `ping -c 2 -W 1 ${GW}`,
      `ping -c 2 -W 1 ${B.ipv4}`,
      `timeout 5 nc -w 2 ${INET} 8080 </dev/null`,
      `arping -c 2 -w 2 -I eth0 ${GW}`,
      "ip link set eth0 down",
      `ip link set eth0 address ${A.mac}`,
      "ip link set eth0 up",
      `ip route replace default via ${GW}`,
      // Link down removed its IPv6 address; back, after duplicate address detection (1 s).
      `ip -6 addr add ${A.ipv6}/64 dev eth0`,
      "sleep 2",
    ]);
    expect(log).toContain(B.mac);
    const c = await counts();
    expect(c.sent, log).toBeGreaterThan(4);
    expect(c).toMatchObject({ bridge: 0, internet: 0 });
    await normalAgain();
  }, 120_000);

  it("check 45: A with B's IPv6 gets nothing through (its neighbour discovery neither); then it is itself again", async () => {
    await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
    expect(await inGuest(A, "ip -6 addr show dev eth0")).toContain(A.ipv6);
    await observe({ mac: A.mac, ipv4: B.ipv4, ipv6: B.ipv6 });
    const dad = "/proc/sys/net/ipv6/conf/eth0/accept_dad";
    const log = await inGuestDetached(A, [
      // No duplicate address detection: B would defend its address, which A then could not send from.
      `echo 0 > ${dad}`,
      `ip -6 addr add ${B.ipv6}/64 dev eth0`,
      `ip -6 addr del ${A.ipv6}/64 dev eth0`,
      "ip -6 addr show dev eth0",
      `ping6 -c 2 -W 1 ${GW6}`,
      `timeout 5 nc -w 2 ${GW6} 53 </dev/null`,
      `ip -6 addr del ${B.ipv6}/64 dev eth0`,
      `ip -6 addr add ${A.ipv6}/64 dev eth0`,
      `echo 1 > ${dad}`,
    ]);
    expect(log).toContain(B.ipv6);
    const c = await counts();
    expect(c.sent, log).toBeGreaterThan(2);
    expect(c.bridge).toBe(0);
    // The gateway did not learn B's IPv6 address at A's MAC.
    expect((await ip(NS, "-6", "neigh", "show", B.ipv6, "dev", "zbr0")).stdout).not.toContain(A.mac);
    await normalAgain();
  }, 120_000);

  it("check 46: A cannot reach a service of the host on the gateway's or the uplink's address", async () => {
    await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
    // The servers are up: the internet reaches the uplink's.
    expect(
      (await inNs(INET_NS, ["node", NET_TOOL, "tcp-connect", UPLINK, "8080", "2000"])).stdout.trim(),
    ).toBe(INET);
    expect(await connect(A, GW, 8080)).toBe("");
    expect(await connect(A, UPLINK, 8080)).toBe("");
  }, 60_000);

  it("A reaches B (ping and TCP), bridged or routed through the gateway, only while vmToVm allows it", async () => {
    const reach = async () => ({
      ping: (await inGuest(A, `ping -c 1 -W 2 ${B.ipv4} >/dev/null && echo pong`)).trim(),
      tcp: await connect(A, B.ipv4, 8080),
    });
    // A's neighbour entry for B at the gateway's MAC: its frames to B go to the gateway, which routes them.
    const viaGateway = async () =>
      (
        await inGuest(
          A,
          `arp -i eth0 -s ${B.ipv4} ${gatewayMac}; ping -c 1 -W 2 ${B.ipv4} >/dev/null && echo pong; timeout 6 nc -w 3 ${B.ipv4} 8080 </dev/null; arp -i eth0 -d ${B.ipv4}`,
        )
      )
        .trim()
        .split("\n");
    // What leaves B's port from A's address (B's replies to A are bridged: one way is enough to see).
    const portB = uplinkName(join(harness().dataDir, "vms", B.name));
    const rule = `    oifname "${portB}" ether type ip ip saddr ${A.ipv4} counter name "hits"`;
    const counted = async (probe: () => Promise<unknown>) => {
      await inNs(
        NS,
        ["nft", "-f", "-"],
        table("bridge", [["post", "postrouting priority 300", [rule]]], "ztobsb"),
      );
      const out = await probe();
      return { out, atB: await hits(NS, "bridge", "ztobsb") };
    };
    await settings({ mode: "routed", vmToVm: false, outboundSmtp: true });
    expect(await counted(reach)).toEqual({ out: { ping: "", tcp: "" }, atB: 0 });
    expect(await counted(viaGateway)).toEqual({ out: [""], atB: 0 });
    await settings({ mode: "routed", vmToVm: true, outboundSmtp: true });
    expect(await reach()).toEqual({ ping: "pong", tcp: B.name });
    const routed = await counted(viaGateway);
    expect(routed.out).toEqual(["pong", B.name]);
    expect(routed.atB).toBeGreaterThan(0);
    await settings({ mode: "routed", vmToVm: false, outboundSmtp: true });
    expect(await reach()).toEqual({ ping: "", tcp: "" });
  }, 90_000);

  it("the internet's server sees the uplink's address in nat mode and A's own in routed mode", async () => {
    // From the internet to A's SSH (busybox nc, stdin closed: dropbear sends its banner and closes).
    const banner = async () =>
      (
        await run(
          [
            "ip",
            "netns",
            "exec",
            INET_NS,
            "busybox",
            "timeout",
            "4",
            "busybox",
            "nc",
            "-w",
            "2",
            A.ipv4,
            "22",
          ],
          {
            allowFailure: true,
            timeoutMs: 10_000,
            input: "",
          },
        )
      ).stdout;
    await settings({ mode: "nat", vmToVm: false, outboundSmtp: true });
    expect(await connect(A, INET, 8080)).toBe(UPLINK);
    // NAT: nothing comes in but replies.
    expect(await banner()).not.toContain("SSH-");
    await settings({ mode: "routed", vmToVm: false, outboundSmtp: true });
    expect(await connect(A, INET, 8080)).toBe(A.ipv4);
    expect(await banner()).toContain("SSH-2.0");
  }, 60_000);

  it("outbound SMTP blocked: A's connection to port 25 fails while 587 connects; allowed: 25 connects", async () => {
    await settings({ mode: "routed", vmToVm: false, outboundSmtp: false });
    expect(await connect(A, INET, 25)).toBe("");
    expect(await connect(A, INET, 587)).toBe(A.ipv4);
    await settings({ mode: "routed", vmToVm: false, outboundSmtp: true });
    expect(await connect(A, INET, 25)).toBe(A.ipv4);
  }, 60_000);
});
