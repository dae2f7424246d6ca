/**
 * A VM's link to the bridge (issue 12 point 2). In the VM's own network namespace (confinement's,
 * vmNetnsName): `tap0`, a tap owned by the VM's uid and gid, and a mini bridge `zb0` joining it to
 * `ve0`, one end of a veth pair; the other end (`zv` + 6 hex of a hash of the VM's directory) moves
 * into the bridge's namespace and joins `zbr0`, where the packet rules (nft.ts) see the VM as that
 * port. UML opens the tap through a 0660 root:<VM group> tun node (10,200) the agent makes in a
 * root-owned directory (`<data>/lib/tun/`), bound at /dev/net/tun in the sandbox. Rate limits are a
 * tbf qdisc on both veth ends (each end's egress is one direction); counters are the bridge-side
 * end's statistics. Deleting the veth (stop) or the VM's namespace (destroy) removes the pair.
 * `<vm>/net-booted.json` (root 0644, in the agent's own VM directory) keeps the address and MAC the
 * link was built for: the running VM keeps them until its next start, whatever vm.json says now.
 * The tun node goes with the VM (destroy).
 */
import { createHash } from "node:crypto";
import { chmod, chown, lstat, rename, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TrafficCounters } from "../../protocol/agent";
import { isSlug } from "../../protocol/names";
import type { NetworkConfig } from "../config";
import { ensureNetns } from "../confine/netns";
import { vmNetnsName } from "../confine/vm-confinement";
import type { RunAs } from "../exec";
import { run } from "../exec";
import { ensureDir, readSmallFileNoFollow, UnsafePathError } from "../safe-fs";
import { ipArgv } from "./host-network";

export const VM_TAP = "tap0";
const VM_BRIDGE = "zb0";
const VM_VETH = "ve0";

/** The VM's port in the bridge's namespace: `zv` + 6 hex (8 chars, well under IFNAMSIZ). */
export function uplinkName(vmDir: string): string {
  return `zv${createHash("sha256").update(vmDir).digest("hex").slice(0, 6)}`;
}

/** The root-owned directory of the VMs' tun nodes (nobody else can write in it or its parents). */
export function tunDir(dataDir: string): string {
  return join(dataDir, "lib", "tun");
}

const ip = (netns: string | null, ...args: string[]) => run(ipArgv(netns, ...args), { timeoutMs: 10_000 });

export interface VmLink {
  port: string;
  /** The tun node to bind at /dev/net/tun in the VM's sandbox. */
  tunNode: string;
}

/** Builds the VM's link (a leftover of a crashed boot is removed first); returns its port and tun node. */
export async function linkUp(
  net: NetworkConfig,
  vm: { name: string; dir: string; user: RunAs; dataDir: string; rateLimitKbit: number | null },
): Promise<VmLink> {
  const ns = vmNetnsName(vm.dir);
  const port = uplinkName(vm.dir);
  await ensureNetns(ns);
  await linkDown(net, vm.dir);
  for (const dev of [VM_TAP, VM_BRIDGE, VM_VETH])
    await run(ipArgv(ns, "link", "del", dev), { allowFailure: true, timeoutMs: 10_000 });
  const { uid, gid } = vm.user;
  await ip(ns, "tuntap", "add", "dev", VM_TAP, "mode", "tap", "user", String(uid), "group", String(gid));
  await ip(ns, "link", "add", VM_BRIDGE, "type", "bridge");
  await ip(ns, "link", "add", VM_VETH, "type", "veth", "peer", "name", port);
  // The host's own namespace is pid 1's.
  await ip(ns, "link", "set", port, "netns", net.netns ?? "1");
  await ip(ns, "link", "set", VM_TAP, "master", VM_BRIDGE);
  await ip(ns, "link", "set", VM_VETH, "master", VM_BRIDGE);
  for (const dev of [VM_TAP, VM_VETH, VM_BRIDGE]) await ip(ns, "link", "set", dev, "up");
  await ip(net.netns, "link", "set", port, "master", net.bridge);
  await ip(net.netns, "link", "set", port, "up");
  await setRateLimit(net, vm.dir, vm.rateLimitKbit);
  const dir = tunDir(vm.dataDir);
  await ensureDir(join(vm.dataDir, "lib"), null, 0o755);
  await ensureDir(dir, null, 0o755);
  const tunNode = join(dir, vm.name);
  await rm(tunNode, { force: true });
  await run(["mknod", "-m", "0600", tunNode, "c", "10", "200"]);
  await chown(tunNode, 0, gid);
  await chmod(tunNode, 0o660);
  return { port, tunNode };
}

/** Removes the VM's veth pair (stop, crash) and its booted record; nothing when they are gone. */
export async function linkDown(net: NetworkConfig, vmDir: string): Promise<void> {
  await run(ipArgv(net.netns, "link", "del", uplinkName(vmDir)), { allowFailure: true, timeoutMs: 10_000 });
  await rm(bootedFile(vmDir), { force: true });
}

/** The address and MAC a VM's link was built for (what its running guest has). */
export interface BootedAddress {
  ipv4: string;
  mac: string;
}

function bootedFile(vmDir: string): string {
  return join(vmDir, "net-booted.json");
}

/** Records what the link was built for (the VM's directory is root's: nobody else writes there). */
export async function recordBooted(vmDir: string, booted: BootedAddress): Promise<void> {
  const file = bootedFile(vmDir);
  const tmp = `${file}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, `${JSON.stringify(booted)}\n`, { mode: 0o644, flag: "wx" });
  await rename(tmp, file);
}

/** What the link was built for; null when the VM was started without one (or before this record). */
export async function readBooted(vmDir: string): Promise<BootedAddress | null> {
  try {
    const json = JSON.parse(await readSmallFileNoFollow(bootedFile(vmDir))) as Partial<BootedAddress>;
    return typeof json.ipv4 === "string" && typeof json.mac === "string"
      ? { ipv4: json.ipv4, mac: json.mac }
      : null;
  } catch {
    return null;
  }
}

/**
 * Removes the VM's tun node (destroy). Only in the tun directory as the agent made it (a real
 * directory of root's, not a symlink), and unlink never follows the node itself.
 */
export async function removeTunNode(dataDir: string, vmName: string): Promise<void> {
  if (!isSlug(vmName)) throw new Error(`refusing VM name ${JSON.stringify(vmName)}`);
  const dir = tunDir(dataDir);
  for (const d of [join(dataDir, "lib"), dir]) {
    const info = await lstat(d).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return null;
      throw error;
    });
    if (info === null) return;
    if (!info.isDirectory() || info.uid !== 0) throw new UnsafePathError(`${d} is not root's directory`);
  }
  await unlink(join(dir, vmName)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

/** tbf on both veth ends (download on the bridge side, upload on the VM side); null removes it. */
export async function setRateLimit(net: NetworkConfig, vmDir: string, kbit: number | null): Promise<void> {
  const ends: [string | null, string][] = [
    [net.netns, uplinkName(vmDir)],
    [vmNetnsName(vmDir), VM_VETH],
  ];
  for (const [ns, dev] of ends) {
    if (kbit === null) {
      await run(tcArgv(ns, "qdisc", "del", "dev", dev, "root"), { allowFailure: true, timeoutMs: 10_000 });
      continue;
    }
    const burst = Math.max(16, Math.ceil(kbit / 8 / 10)); // kbyte: a tenth of a second at the rate
    await run(
      tcArgv(
        ns,
        "qdisc",
        "replace",
        "dev",
        dev,
        "root",
        "tbf",
        "rate",
        `${kbit}kbit`,
        "burst",
        `${burst}kb`,
        "latency",
        "100ms",
      ),
      { timeoutMs: 10_000 },
    );
  }
}

function tcArgv(netns: string | null, ...args: string[]): string[] {
  return netns ? ["ip", "netns", "exec", netns, "tc", ...args] : ["tc", ...args];
}

/** The VM's traffic, as the VM sees it (the bridge side's rx is what the VM sent); null without a link. */
export async function linkCounters(net: NetworkConfig, vmDir: string): Promise<TrafficCounters | null> {
  const out = await run(ipArgv(net.netns, "-s", "-j", "link", "show", "dev", uplinkName(vmDir)), {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (out.code !== 0) return null;
  const [link] = JSON.parse(out.stdout) as {
    stats64?: Record<"rx" | "tx", { bytes: number; packets: number }>;
  }[];
  const s = link?.stats64;
  if (!s) return null;
  return { rxBytes: s.tx.bytes, txBytes: s.rx.bytes, rxPackets: s.tx.packets, txPackets: s.rx.packets };
}

/** The ports of `vmDirs` that exist in the bridge's namespace (VMs running with a link). */
export async function existingPorts(net: NetworkConfig): Promise<Set<string>> {
  const out = await run(ipArgv(net.netns, "-j", "link", "show"), { allowFailure: true, timeoutMs: 10_000 });
  if (out.code !== 0) return new Set();
  return new Set((JSON.parse(out.stdout) as { ifname: string }[]).map((l) => l.ifname));
}
