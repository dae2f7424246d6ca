/**
 * The host network's bridge and settings (issue 12 point 1): the settings the admin gave
 * (`<data>/network.json`, root 0644, replaced atomically; the configuration's ZAPHOD_NET_* until
 * then) and the bridge in its namespace (`zbr0` with the gateway's address and the IPv6 prefix's
 * `::1`, up), brought up idempotently at agent start and re-addressed when the settings change.
 * Every command is an argv array; in a named namespace through `ip -n <ns>`, never in the host's
 * own namespace unless the configuration says `host`. Forwarding follows the mode in the bridge's
 * namespace (on for nat and routed, off when isolated); in the host's own namespace the agent only
 * turns it on (nat, routed) and logs it, the operator's choice by `ZAPHOD_NET_NETNS=host`.
 */
import { existsSync } from "node:fs";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HostNetworkSettings } from "../../protocol/agent";
import { AddressError, formatIPv6, type Ipv4Pool, makePool, parseIPv6Prefix } from "../../protocol/net";
import type { NetworkConfig } from "../config";
import { ensureNetns } from "../confine/netns";
import { AgentFailure } from "../errors";
import { run } from "../exec";
import { readSmallFileNoFollow } from "../safe-fs";

/** `ip` with `-n <ns>` when the bridge lives in a named namespace. */
export function ipArgv(netns: string | null, ...args: string[]): string[] {
  return netns ? ["ip", "-n", netns, ...args] : ["ip", ...args];
}

/** The pool the settings describe; an inconsistent one is an invalid request with the reason. */
export function poolOf(settings: HostNetworkSettings): Ipv4Pool {
  try {
    const pool = makePool(settings.ipv4Subnet, settings.gateway, {
      first: settings.poolFirst,
      last: settings.poolLast,
    });
    if (settings.ipv6Prefix !== null) parseIPv6Prefix(settings.ipv6Prefix);
    return pool;
  } catch (error) {
    if (error instanceof AddressError) throw new AgentFailure("invalid-request", error.message);
    throw error;
  }
}

export class HostNetwork {
  private current: HostNetworkSettings | null = null;

  constructor(
    readonly config: NetworkConfig,
    private dataDir: string,
    private log: (line: string) => void = () => undefined,
  ) {}

  get file(): string {
    return join(this.dataDir, "network.json");
  }

  /** The admin's settings, or the configuration's defaults when none were saved. */
  async settings(): Promise<HostNetworkSettings> {
    if (this.current) return this.current;
    try {
      this.current = HostNetworkSettings.parse(JSON.parse(await readSmallFileNoFollow(this.file)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      this.current = this.config.defaults;
    }
    return this.current;
  }

  /** Saves new settings (checked first) and re-addresses the bridge. */
  async save(settings: HostNetworkSettings): Promise<void> {
    const parsed = HostNetworkSettings.parse(settings);
    poolOf(parsed);
    const tmp = `${this.file}.tmp`;
    await rm(tmp, { force: true });
    await writeFile(tmp, `${JSON.stringify(parsed, null, 2)}\n`, { mode: 0o644, flag: "wx" });
    await rename(tmp, this.file);
    this.current = parsed;
    await this.ensureBridge();
  }

  /** Creates the namespace (named), the bridge and its addresses when missing; brings it up. */
  async ensureBridge(): Promise<void> {
    const { netns, bridge } = this.config;
    const settings = await this.settings();
    const pool = poolOf(settings);
    if (netns) await ensureNetns(netns);
    const ip = (...args: string[]) => run(ipArgv(netns, ...args), { timeoutMs: 10_000 });
    const exists = await run(ipArgv(netns, "link", "show", "dev", bridge), { allowFailure: true });
    if (exists.code !== 0) await ip("link", "add", bridge, "type", "bridge");
    await ip("addr", "flush", "dev", bridge, "scope", "global");
    await ip("addr", "add", `${settings.gateway}/${pool.subnet.prefix}`, "dev", bridge);
    if (settings.ipv6Prefix) {
      const p = parseIPv6Prefix(settings.ipv6Prefix);
      await ip("-6", "addr", "add", `${formatIPv6([...p.slice(0, 7), 1])}/64`, "dev", bridge, "nodad");
    }
    await ip("link", "set", bridge, "up");
    await this.setForwarding(settings.mode, settings.ipv6Prefix !== null);
  }

  /**
   * IPv4 and IPv6 forwarding in the bridge's namespace: on for nat and routed, off when isolated
   * (`ip netns exec <ns> sysctl -w`). In the host's own namespace only turned on, and logged:
   * turning it off could cut the host's other traffic; IPv6 only with a prefix (forwarding stops
   * the host's own router-advertisement autoconfiguration unless accept_ra=2).
   */
  private async setForwarding(mode: HostNetworkSettings["mode"], ipv6: boolean): Promise<void> {
    const on = mode !== "isolated";
    // A kernel booted with ipv6.disable=1 has no IPv6 sysctls (in any namespace).
    const keys = ["net.ipv4.ip_forward"];
    if (existsSync("/proc/sys/net/ipv6/conf/all/forwarding")) keys.push("net.ipv6.conf.all.forwarding");
    const { netns } = this.config;
    if (netns) {
      const value = on ? "1" : "0";
      await run(["ip", "netns", "exec", netns, "sysctl", "-qw", ...keys.map((k) => `${k}=${value}`)], {
        timeoutMs: 10_000,
      });
      return;
    }
    if (!on) {
      this.log(
        "network: isolated mode in the host's own namespace: its forwarding sysctls are left as they are",
      );
      return;
    }
    for (const key of ipv6 ? keys : keys.slice(0, 1)) {
      const file = `/proc/sys/${key.replaceAll(".", "/")}`;
      if ((await readFile(file, "utf8")).trim() === "1") continue;
      await run(["sysctl", "-qw", `${key}=1`], { timeoutMs: 10_000 });
      this.log(`network: ${key}=1 set in the host's own namespace (ZAPHOD_NET_NETNS=host, mode ${mode})`);
    }
  }
}
