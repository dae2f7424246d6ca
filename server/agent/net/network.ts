/**
 * The networking verbs (issue 12 points 1 and 2): host.network, host.setNetwork, vm.network,
 * vm.setNetwork, and the address checks vm.create makes. A VM's address and rate limit live in its
 * vm.json (the MAC follows the address: `fe:fd` + the address in hex) and apply at its next boot.
 */
import type {
  HostNetworkInfo,
  HostNetworkSettings,
  PortForward,
  VmConfig,
  VmNetworkInfo,
} from "../../protocol/agent";
import { ipv6FromMac, macFromIPv4, poolCapacity, refuseAddress } from "../../protocol/net";
import { netnsPath } from "../confine/netns";
import { confinement } from "../confine/vm-confinement";
import { AgentFailure } from "../errors";
import type { SeedNetwork } from "../seed-disk";
import type { Runtime, VmManager } from "../vm-manager";
import { setSeedNetwork } from "../vm-seed";
import { Forwards } from "./forwards";
import { HostNetwork, poolOf } from "./host-network";
import { applyNetworkRules, type BridgePort } from "./nft";
import {
  existingPorts,
  linkCounters,
  linkDown,
  linkUp,
  setRateLimit,
  uplinkName,
  type VmLink,
} from "./vm-link";

export class Networking {
  readonly host: HostNetwork | null;
  /** The admin's port forwards (net/forwards.ts), relayed by the agent in every mode. */
  readonly forwards: Forwards | null;

  constructor(private vms: VmManager) {
    const net = vms.config.network;
    this.host = net ? new HostNetwork(net, vms.config.dataDir) : null;
    this.forwards = net
      ? new Forwards({
          dataDir: vms.config.dataDir,
          netns: net.netns ? netnsPath(net.netns) : null,
          forwardAddress: net.forwardAddress,
          // The address the VM has now in vm.json: after an address change, from its next boot.
          vmAddress: async (name) => (await vms.load(name).catch(() => null))?.config.ipv4 ?? null,
          log: vms.log,
        })
      : null;
    if (this.host) setSeedNetwork((runtime) => this.seedNetwork(runtime));
  }

  private forwardsOn(): Forwards {
    this.on();
    if (!this.forwards) throw new AgentFailure("invalid-request", "networking is off: set ZAPHOD_NET_NETNS");
    return this.forwards;
  }

  async addForward(forward: PortForward): Promise<HostNetworkInfo> {
    await this.vms.load(forward.name);
    await this.forwardsOn().add(forward);
    return this.hostInfo();
  }

  async removeForward(hostPort: number): Promise<HostNetworkInfo> {
    await this.forwardsOn().remove(hostPort);
    return this.hostInfo();
  }

  /** A destroyed VM's forwards go with it. */
  async forgetVm(name: string): Promise<void> {
    await this.forwards?.removeVm(name);
  }

  on(): HostNetwork {
    if (!this.host) throw new AgentFailure("invalid-request", "networking is off: set ZAPHOD_NET_NETNS");
    return this.host;
  }

  private async configs(): Promise<VmConfig[]> {
    const out: VmConfig[] = [];
    for (const name of await this.vms.listNames()) {
      const runtime = await this.vms.load(name).catch(() => null);
      if (runtime) out.push(runtime.config);
    }
    return out;
  }

  /** Every VM's address but `except`'s, as refuseAddress wants it (address → holder). */
  private async taken(except: string | null): Promise<Map<string, string>> {
    const taken = new Map<string, string>();
    for (const c of await this.configs()) if (c.ipv4 && c.name !== except) taken.set(c.ipv4, c.name);
    return taken;
  }

  /** Refuses (`conflict`) an address outside the pool, the gateway or another VM's. */
  async checkAddress(name: string, ipv4: string): Promise<void> {
    const pool = poolOf(await this.on().settings());
    const why = refuseAddress(pool, ipv4, await this.taken(name));
    if (why) throw new AgentFailure("conflict", why);
  }

  async hostInfo(): Promise<HostNetworkInfo> {
    const host = this.on();
    const settings = await host.settings();
    const vms = (await this.configs()).map((c) => ({ name: c.name, ipv4: c.ipv4, mac: c.mac }));
    return {
      settings,
      netns: host.config.netns,
      bridge: host.config.bridge,
      forwardAddress: host.config.forwardAddress,
      forwardMode: "relay",
      forwards: this.forwards?.list() ?? [],
      vms,
      poolSize: poolCapacity(poolOf(settings)),
      poolUsed: vms.filter((v) => v.ipv4 !== null).length,
    };
  }

  /** New settings: refused (`conflict`) while a VM's address falls outside the new pool. */
  async setHost(settings: HostNetworkSettings): Promise<HostNetworkInfo> {
    const host = this.on();
    const pool = poolOf(settings);
    for (const c of await this.configs()) {
      if (!c.ipv4) continue;
      const why = refuseAddress(pool, c.ipv4, new Map());
      if (why)
        throw new AgentFailure("conflict", `${c.name}'s address does not fit the new settings: ${why}`);
    }
    await host.save(settings);
    return this.hostInfo();
  }

  async vmInfo(name: string): Promise<VmNetworkInfo> {
    const settings = await this.on().settings();
    const runtime = await this.vms.load(name);
    const { config } = runtime;
    return {
      name,
      ipv4: config.ipv4,
      ipv6: config.ipv4 && settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, config.mac) : null,
      mac: config.mac,
      gateway: config.ipv4 ? settings.gateway : null,
      dns: settings.dns.length > 0 ? settings.dns : [settings.gateway],
      rateLimitKbit: config.rateLimitKbit,
      counters: await linkCounters(this.on().config, runtime.paths.dir),
      appliesAtNextBoot: false,
      forwards: this.forwards?.forVm(name) ?? [],
    };
  }

  /** A VM's address (next boot; the MAC follows it) and rate limit. */
  async setVm(name: string, ipv4: string | null, rateLimitKbit: number | null): Promise<VmNetworkInfo> {
    this.on();
    const unlock = this.vms.tasks.lock(name, "vm.setNetwork");
    try {
      if (ipv4) await this.checkAddress(name, ipv4);
      const runtime = await this.vms.load(name);
      runtime.config.ipv4 = ipv4;
      if (ipv4) runtime.config.mac = macFromIPv4(ipv4);
      runtime.config.rateLimitKbit = rateLimitKbit;
      await this.vms.saveConfig(runtime);
      if (await this.vms.mainProcess(runtime))
        await setRateLimit(this.on().config, runtime.paths.dir, rateLimitKbit).catch(() => undefined);
    } finally {
      unlock();
    }
    return this.vmInfo(name);
  }

  /** A VM gets a link when networking is on, it has an address and it runs confined (its own netns). */
  private linked(runtime: Runtime): boolean {
    return Boolean(this.host && runtime.config.ipv4 && confinement());
  }

  /** Builds the VM's link before its start (null: no network device), then the rules. */
  async linkUp(runtime: Runtime): Promise<VmLink | null> {
    if (!this.host || !this.linked(runtime)) return null;
    const link = await linkUp(this.host.config, {
      name: runtime.config.name,
      dir: runtime.paths.dir,
      user: runtime.user,
      dataDir: this.vms.config.dataDir,
      rateLimitKbit: runtime.config.rateLimitKbit,
    });
    await this.applyRules();
    return link;
  }

  /** Removes the VM's link (stop, power off, crash) and rebuilds the rules. */
  async linkDown(runtime: Runtime): Promise<void> {
    if (!this.host) return;
    await linkDown(this.host.config, runtime.paths.dir);
    await this.applyRules();
  }

  /** The packet rules over every VM whose port is on the bridge. */
  async applyRules(): Promise<void> {
    const host = this.on();
    const settings = await host.settings();
    const present = await existingPorts(host.config);
    const ports: BridgePort[] = [];
    for (const name of await this.vms.listNames()) {
      const r = await this.vms.load(name).catch(() => null);
      if (!r?.config.ipv4) continue;
      const port = uplinkName(r.paths.dir);
      if (!present.has(port)) continue;
      ports.push({
        port,
        name,
        mac: r.config.mac,
        ipv4: r.config.ipv4,
        ipv6: settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, r.config.mac) : null,
      });
    }
    await applyNetworkRules({
      netns: host.config.netns ? `/run/netns/${host.config.netns}` : null,
      bridge: host.config.bridge,
      uplink: null,
      settings,
      ports,
      natForwards: [],
      forwardAddress: host.config.forwardAddress,
    });
  }

  /** What the VM's seed disk says of its network (null: no network device). */
  async seedNetwork(runtime: Runtime): Promise<SeedNetwork | null> {
    if (!this.host || !runtime.config.ipv4) return null;
    const settings = await this.host.settings();
    const pool = poolOf(settings);
    const ipv6 = settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, runtime.config.mac) : null;
    return {
      mac: runtime.config.mac,
      ipv4: `${runtime.config.ipv4}/${pool.subnet.prefix}`,
      gateway4: settings.gateway,
      ipv6: ipv6 ? `${ipv6}/64` : null,
      gateway6: null,
      dns: settings.dns.length > 0 ? settings.dns : [settings.gateway],
    };
  }
}
