/**
 * Issue 12 points 6 and 7, the operator's forwards: with `ZAPHOD_NET_FORWARDS=nft` (mode nat) a
 * real agent makes port forwards nftables DNAT in the bridge's namespace instead of relaying them.
 * All in namespaces this test makes (never the host's own): the bridge's (the agent's, with an
 * uplink veth the test adds), an "internet" on that uplink, and a stand-in VM on a veth joined to
 * the bridge with the VM's address (as in nft.itest.ts; the DNAT acts the same on a real VM's
 * port). A client in the internet connects to the uplink's address and port and reaches the VM's
 * server, which sees the client's own address; nothing listens in the host's namespace; forwarding
 * is on in the bridge's namespace and unchanged in the host's.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";
import { forwardingIn } from "./testing/forwarding";
import { startNetTool, NET_TOOL as TOOL } from "./testing/guests";

const tag = randomBytes(3).toString("hex");
const NS = { br: `zt${tag}-br`, inet: `zt${tag}-inet`, vm: `zt${tag}-vm` };
const UPLINK = "192.0.2.1";
const INET = "192.0.2.2";
const VM = "10.77.0.20";
const PORT = 20_000 + (randomBytes(2).readUInt16BE() % 20_000);

let h: Harness;
let hostForwarding: string[] = [];
const made: string[] = [];
const servers: ChildProcess[] = [];

const ip = (ns: string, ...args: string[]) => run(["ip", "-n", ns, ...args]);
const inNs = (ns: string, argv: string[]) => run(["ip", "netns", "exec", ns, ...argv], { timeoutMs: 20_000 });
/** The server's answer (its view of our address), or "fail". */
const connectFrom = async (ns: string, host: string, port: number) =>
  (await inNs(ns, ["node", TOOL, "tcp-connect", host, String(port), "2000"])).stdout.trim();

beforeAll(async () => {
  hostForwarding = await forwardingIn(null);
  for (const ns of Object.values(NS)) {
    await run(["ip", "netns", "add", ns]);
    made.push(ns);
    await ip(ns, "link", "set", "lo", "up");
  }
  h = await createHarness({ confine: false });
  Object.assign(h.env, { ZAPHOD_NET_NETNS: NS.br, ZAPHOD_NET_MODE: "nat", ZAPHOD_NET_FORWARDS: "nft" });
  await h.startAgent();
  // The bridge's uplink to the internet, and the stand-in VM's port on the agent's bridge.
  await ip(NS.br, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", NS.inet);
  await ip(NS.br, "addr", "add", `${UPLINK}/24`, "dev", "up0");
  await ip(NS.br, "link", "set", "up0", "up");
  await ip(NS.inet, "addr", "add", `${INET}/24`, "dev", "eth0");
  await ip(NS.inet, "link", "set", "eth0", "up");
  await ip(NS.br, "link", "add", `zv${tag}`, "type", "veth", "peer", "name", "eth0", "netns", NS.vm);
  await ip(NS.br, "link", "set", `zv${tag}`, "master", "zbr0", "up");
  await ip(NS.vm, "addr", "add", `${VM}/24`, "dev", "eth0");
  await ip(NS.vm, "link", "set", "eth0", "up");
  await ip(NS.vm, "route", "add", "default", "via", "10.77.0.1");
  await startNetTool(NS.vm, ["tcp-listen", "8080", VM], servers);
  await h.client.run("vm.create", {
    name: "web",
    owner: "sam",
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
    ipv4: VM,
  });
}, 120_000);

afterAll(async () => {
  for (const child of servers) if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
  await h?.cleanup().catch(() => undefined);
  for (const ns of made.reverse()) await run(["ip", "netns", "delete", ns], { allowFailure: true });
}, 60_000);

/** A TCP connection to 127.0.0.1:port in the host's own namespace (the relay would listen there). */
const loopbackOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });

describe("port forwards as nftables DNAT (ZAPHOD_NET_FORWARDS=nft)", () => {
  it("forwarding is on in the bridge's namespace (nat), the host's unchanged; isolated is refused", async () => {
    expect(await forwardingIn(NS.br)).toEqual(["1", "1"]);
    expect(await forwardingIn(null)).toEqual(hostForwarding);
    const { settings } = await h.client.call("host.network", {});
    await expect(
      h.client.call("host.setNetwork", { settings: { ...settings, mode: "isolated" } }),
    ).rejects.toMatchObject({ code: "conflict" });
  });

  it("a client in the internet reaches the VM's port through the uplink's address; nothing is relayed", async () => {
    expect(await connectFrom(NS.inet, UPLINK, PORT)).toBe("fail");
    const info = await h.client.call("forward.add", { hostPort: PORT, name: "web", vmPort: 8080 });
    expect(info).toMatchObject({ forwardMode: "nat", forwardAddress: "0.0.0.0" });
    expect(info.forwards).toEqual([{ hostPort: PORT, name: "web", vmPort: 8080 }]);
    // The VM's server sees the client's own address: DNAT, no relay in between.
    expect(await connectFrom(NS.inet, UPLINK, PORT)).toBe(INET);
    expect(await loopbackOpen(PORT)).toBe(false);
    expect((await h.client.call("forward.remove", { hostPort: PORT })).forwards).toEqual([]);
    expect(await connectFrom(NS.inet, UPLINK, PORT)).toBe("fail");
  });

  it("refuses a port a service of the bridge's namespace listens on (DNAT would shadow it)", async () => {
    await startNetTool(NS.br, ["tcp-listen", String(PORT + 1), "0.0.0.0"], servers);
    await expect(
      h.client.call("forward.add", { hostPort: PORT + 1, name: "web", vmPort: 8080 }),
    ).rejects.toMatchObject({ code: "conflict", message: `port ${PORT + 1} is in use on this host` });
    expect(await connectFrom(NS.inet, UPLINK, PORT + 1)).toBe(INET); // the service, not the VM
    expect((await h.client.call("host.network", {})).forwards).toEqual([]);
  });
});
