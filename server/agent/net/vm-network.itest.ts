/**
 * Issue 12 point 2, what a running VM keeps: a real agent with its bridge in a network namespace
 * this test makes (never the host's own), real UML VMs. An address the admin changes while the VM
 * runs applies at its next start: until then it keeps the address it booted with, through a rules
 * rebuild (another VM's start), and both addresses are taken. Forwarding in the bridge's namespace
 * follows the mode, the host's own never changes; a destroyed VM's tun node goes. Everything it
 * made goes in afterAll.
 */
import { randomBytes } from "node:crypto";
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNetns } from "../confine/netns";
import { createHarness, type Harness } from "../testing/agent-harness";
import { forwardingIn } from "./testing/forwarding";
import { createNetVms, memberKey, waitForGuestSsh } from "./testing/guests";

let h: Harness;
const NS = `zt-${randomBytes(4).toString("hex")}`;
const VMS = { neta: "10.77.0.10", netb: "10.77.0.11" } as const;
const MOVED = "10.77.0.12";
let keyFile = "";
let hostForwarding: string[] = [];

beforeAll(async () => {
  hostForwarding = await forwardingIn(null);
  h = await createHarness({ confine: true });
  h.env.ZAPHOD_NET_NETNS = NS;
  await h.startAgent();
  const key = await memberKey(h);
  keyFile = key.keyFile;
  await createNetVms(h, VMS, key.line);
}, 180_000);

afterAll(async () => {
  await h?.cleanup().catch(() => undefined);
  await deleteNetns(NS).catch(() => undefined);
}, 90_000);

/** `echo hi` over SSH at `ipv4` from the bridge's namespace (StrictHostKeyChecking=yes), retried. */
const sshHi = async (name: string, ipv4: string, tries = 20) =>
  (await waitForGuestSsh(h, { netns: NS, keyFile, name, ipv4 }, tries)).stdout.trim();

describe("a running VM's network", () => {
  it("forwarding in the bridge's namespace follows the mode (off isolated, on nat); the host's is unchanged", async () => {
    expect(await forwardingIn(NS)).toEqual(["0", "0"]);
    const { settings } = await h.client.call("host.network", {});
    await h.client.call("host.setNetwork", { settings: { ...settings, mode: "nat" } });
    expect(await forwardingIn(NS)).toEqual(["1", "1"]);
    expect(await forwardingIn(null)).toEqual(hostForwarding);
    await h.client.call("host.setNetwork", { settings: { ...settings, mode: "isolated" } });
    expect(await forwardingIn(NS)).toEqual(["0", "0"]);
    expect(await forwardingIn(null)).toEqual(hostForwarding);
  });

  it("an address changed while it runs applies at its next start; until then it keeps its own, and both are taken", async () => {
    expect((await h.client.run("vm.start", { name: "neta" })).result?.stage).toBe("up");
    expect(await sshHi("neta", VMS.neta)).toBe("hi");
    const changed = await h.client.call("vm.setNetwork", { name: "neta", ipv4: MOVED, rateLimitKbit: null });
    // Another VM's start rebuilds every port's rules: neta's still carry the address it runs with.
    expect((await h.client.run("vm.start", { name: "netb" })).result?.stage).toBe("up");
    expect(await sshHi("neta", VMS.neta, 5)).toBe("hi");
    expect(changed).toMatchObject({ ipv4: MOVED, liveIpv4: VMS.neta, appliesAtNextBoot: true });
    for (const ipv4 of [VMS.neta, MOVED])
      await expect(
        h.client.call("vm.setNetwork", { name: "netb", ipv4, rateLimitKbit: null }),
      ).rejects.toMatchObject({ code: "conflict" });
    const host = await h.client.call("host.network", {});
    expect(host.vms.find((v) => v.name === "neta")).toMatchObject({ ipv4: MOVED, liveIpv4: VMS.neta });
    expect(host.poolUsed).toBe(3);
    // Its next start takes the new address (and the MAC made from it).
    await h.client.run("vm.poweroff", { name: "neta" });
    expect((await h.client.run("vm.start", { name: "neta" })).result?.stage).toBe("up");
    expect(await sshHi("neta", MOVED)).toBe("hi");
    expect(await h.client.call("vm.network", { name: "neta" })).toMatchObject({
      ipv4: MOVED,
      liveIpv4: MOVED,
      mac: "fe:fd:0a:4d:00:0c",
      appliesAtNextBoot: false,
    });
  }, 240_000);

  it("vm.destroy removes the VM's tun node", async () => {
    const node = join(h.dataDir, "lib", "tun", "neta");
    expect((await lstat(node)).isCharacterDevice()).toBe(true);
    await h.client.run("vm.poweroff", { name: "neta" });
    await h.client.run("vm.destroy", { name: "neta", confirm: "neta" });
    await expect(lstat(node)).rejects.toMatchObject({ code: "ENOENT" });
  }, 120_000);
});
