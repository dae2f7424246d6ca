/**
 * The networking verbs (issue 12 points 1 and 2): host.network, host.setNetwork, vm.network,
 * vm.setNetwork, and the address checks vm.create makes. A VM's address and rate limit live in its
 * vm.json (the MAC follows the address: `fe:fd` + the address in hex) and apply at its next boot.
 */
import type { HostNetworkInfo, HostNetworkSettings, VmConfig, VmNetworkInfo } from "../../protocol/agent";
import { ipv6FromMac, macFromIPv4, poolCapacity, refuseAddress } from "../../protocol/net";
import { AgentFailure } from "../errors";
import type { VmManager } from "../vm-manager";
import { HostNetwork, poolOf } from "./host-network";

export class Networking {
  readonly host: HostNetwork | null;

  constructor(private vms: VmManager) {
    const net = vms.config.network;
    this.host = net ? new HostNetwork(net, vms.config.dataDir) : null;
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
      forwardMode: host.config.netns ? "relay" : "nat",
      forwards: [],
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
      counters: null,
      appliesAtNextBoot: false,
      forwards: [],
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
    } finally {
      unlock();
    }
    return this.vmInfo(name);
  }
}
