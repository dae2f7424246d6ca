/**
 * The networking verbs (issue 12 points 1 and 2): host.network, host.setNetwork, vm.network,
 * vm.setNetwork, and the address checks vm.create makes. A VM's address and rate limit live in its
 * vm.json (the MAC follows the address: `fe:fd` + the address in hex); the address applies at its
 * next start: until then a running VM keeps the one it booted with (vm-addresses.ts), for its
 * packet rules, its forwards and its seed, and the pool counts both as taken.
 */
import type { HostNetworkInfo, HostNetworkSettings, PortForward, VmNetworkInfo } from "../../protocol/agent";
import { ipv6FromMac, macFromIPv4, poolCapacity, refuseAddress } from "../../protocol/net";
import { netnsPath } from "../confine/netns";
import { confinement } from "../confine/vm-confinement";
import { AgentFailure } from "../errors";
import { scanUmlProcesses, type UmlProcess } from "../host-procs";
import type { SeedNetwork } from "../seed-disk";
import type { Runtime, VmManager } from "../vm-manager";
import { setSeedNetwork } from "../vm-seed";
import { dnsHosts, guestDns, listenAddresses, Resolver } from "./dns";
import { Forwards } from "./forwards";
import { HostNetwork, poolOf } from "./host-network";
import { applyNetworkRules, type BridgePort } from "./nft";
import {
  appliesAtNextBoot,
  currentAddress,
  heldAddresses,
  portAddress,
  type VmAddressState,
} from "./vm-addresses";
import {
  existingPorts,
  linkCounters,
  linkDown,
  linkUp,
  readBooted,
  recordBooted,
  removeTunNode,
  setRateLimit,
  uplinkName,
  type VmLink,
} from "./vm-link";

export class Networking {
  readonly host: HostNetwork | null;
  /** The admin's port forwards (net/forwards.ts): relayed by the agent, or DNAT (ZAPHOD_NET_FORWARDS=nft). */
  readonly forwards: Forwards | null;
  /** The VMs' resolver on the gateway (net/dns.ts). */
  readonly dns: Resolver | null;

  constructor(private vms: VmManager) {
    const net = vms.config.network;
    this.host = net ? new HostNetwork(net, vms.config.dataDir, vms.log) : null;
    this.forwards = net
      ? new Forwards({
          dataDir: vms.config.dataDir,
          netns: net.netns ? netnsPath(net.netns) : null,
          forwardAddress: net.forwardAddress,
          mode: net.forwards,
          rulesChanged: () => this.applyRules(),
          // The address the VM's traffic has now: the booted one while it runs, vm.json's else.
          vmAddress: async (name) => {
            const runtime = await vms.load(name).catch(() => null);
            return runtime ? (currentAddress(await this.stateOf(runtime))?.ipv4 ?? null) : null;
          },
          log: vms.log,
        })
      : null;
    this.dns = net ? new Resolver({ netns: net.netns, dataDir: vms.config.dataDir, log: vms.log }) : null;
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

  /** A destroyed VM's forwards and tun node go with it. */
  async forgetVm(name: string): Promise<void> {
    await this.forwards?.removeVm(name);
    if (this.host && this.vms.config.privileged) await removeTunNode(this.vms.config.dataDir, name);
    await this.refreshDns();
  }

  /** The resolver follows the settings and the VMs' names and addresses (net/dns.ts); never throws. */
  async refreshDns(): Promise<void> {
    if (!this.host || !this.dns) return;
    try {
      const settings = await this.host.settings();
      // Each VM by the address its traffic carries now (the booted one while it runs), as the rules.
      const vms = (await this.states()).flatMap(({ state }) => {
        const address = currentAddress(state);
        return address ? [{ name: state.name, ...address }] : [];
      });
      await this.dns.update(settings, dnsHosts(settings, vms));
    } catch (error) {
      this.vms.log(`dns: ${(error as Error).message}`);
    }
  }

  on(): HostNetwork {
    if (!this.host) throw new AgentFailure("invalid-request", "networking is off: set ZAPHOD_NET_NETNS");
    return this.host;
  }

  /** A VM's addresses: vm.json's and, while it runs, the one its link was built for. */
  private async stateOf(runtime: Runtime, all?: readonly UmlProcess[]): Promise<VmAddressState> {
    const { config } = runtime;
    return {
      name: config.name,
      ipv4: config.ipv4,
      mac: config.mac,
      running: Boolean(await this.vms.mainProcess(runtime, all)),
      live: await readBooted(runtime.paths.dir),
    };
  }

  /** Every VM (one look at the processes for all). */
  private async states(): Promise<{ runtime: Runtime; state: VmAddressState }[]> {
    const all = await scanUmlProcesses();
    const out: { runtime: Runtime; state: VmAddressState }[] = [];
    for (const name of await this.vms.listNames()) {
      const runtime = await this.vms.load(name).catch(() => null);
      if (runtime) out.push({ runtime, state: await this.stateOf(runtime, all) });
    }
    return out;
  }

  /** Every address held but `except`'s own, as refuseAddress wants it (address → holder). */
  private async taken(except: string | null): Promise<Map<string, string>> {
    return heldAddresses(
      (await this.states()).map((s) => s.state),
      except,
    );
  }

  /** Refuses (`conflict`) an address outside the pool, the gateway or another VM's (pending or live). */
  async checkAddress(name: string, ipv4: string): Promise<void> {
    const pool = poolOf(await this.on().settings());
    const why = refuseAddress(pool, ipv4, await this.taken(name));
    if (why) throw new AgentFailure("conflict", why);
  }

  async hostInfo(): Promise<HostNetworkInfo> {
    const host = this.on();
    const settings = await host.settings();
    const states = (await this.states()).map((s) => s.state);
    const vms = states.map((v) => ({
      name: v.name,
      ipv4: v.ipv4,
      mac: v.mac,
      liveIpv4: v.running ? (v.live?.ipv4 ?? null) : null,
    }));
    return {
      settings,
      netns: host.config.netns,
      bridge: host.config.bridge,
      forwardAddress: host.config.forwardAddress,
      forwardMode: host.config.forwards === "nft" ? "nat" : "relay",
      forwards: this.forwards?.list() ?? [],
      vms,
      poolSize: poolCapacity(poolOf(settings)),
      poolUsed: heldAddresses(states, null).size,
    };
  }

  /**
   * New settings: refused (`conflict`) while a VM's address falls outside the new pool, or isolated
   * mode with DNAT forwards (they need a route out). The bridge, forwarding and rules follow them.
   */
  async setHost(settings: HostNetworkSettings): Promise<HostNetworkInfo> {
    const host = this.on();
    if (host.config.forwards === "nft" && settings.mode === "isolated")
      throw new AgentFailure(
        "conflict",
        "port forwards are nftables DNAT on this host (ZAPHOD_NET_FORWARDS=nft), which needs a route out: pick nat or routed",
      );
    const pool = poolOf(settings);
    for (const [ipv4, name] of heldAddresses(
      (await this.states()).map((s) => s.state),
      null,
    )) {
      const why = refuseAddress(pool, ipv4, new Map());
      if (why)
        throw new AgentFailure("conflict", `${name}'s address ${ipv4} does not fit the new settings: ${why}`);
    }
    await host.save(settings);
    await this.refreshDns();
    await this.applyRules();
    return this.hostInfo();
  }

  async vmInfo(name: string): Promise<VmNetworkInfo> {
    const settings = await this.on().settings();
    const runtime = await this.vms.load(name);
    const { config } = runtime;
    const state = await this.stateOf(runtime);
    return {
      name,
      ipv4: config.ipv4,
      liveIpv4: state.running ? (state.live?.ipv4 ?? null) : null,
      ipv6: config.ipv4 && settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, config.mac) : null,
      mac: config.mac,
      gateway: config.ipv4 ? settings.gateway : null,
      dns: guestDns(settings),
      rateLimitKbit: config.rateLimitKbit,
      counters: await linkCounters(this.on().config, runtime.paths.dir),
      appliesAtNextBoot: appliesAtNextBoot(state),
      forwards: this.forwards?.forVm(name) ?? [],
    };
  }

  /**
   * A VM's address (its next start; the MAC follows it) and rate limit (now). A running VM keeps
   * its booted address, rules and seed until then: nothing of its link changes here.
   */
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
      await this.refreshDns();
      if (await this.vms.mainProcess(runtime))
        await setRateLimit(this.on().config, runtime.paths.dir, rateLimitKbit).catch((error: Error) => {
          throw new AgentFailure(
            "internal",
            `the rate limit is saved for ${name}'s next start, but setting it now failed: ${error.message}`,
          );
        });
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
    await recordBooted(runtime.paths.dir, { ipv4: runtime.config.ipv4 as string, mac: runtime.config.mac });
    await this.applyRules();
    return link;
  }

  /** Removes the VM's link (stop, power off, crash) and rebuilds the rules. */
  async linkDown(runtime: Runtime): Promise<void> {
    if (!this.host) return;
    await linkDown(this.host.config, runtime.paths.dir);
    await this.applyRules();
  }

  /** The packet rules over every VM whose port is on the bridge, each for the address it booted with. */
  async applyRules(): Promise<void> {
    const host = this.on();
    const settings = await host.settings();
    const present = await existingPorts(host.config);
    const ports: BridgePort[] = [];
    const states = await this.states();
    for (const { runtime, state } of states) {
      const port = uplinkName(runtime.paths.dir);
      const address = portAddress(state);
      if (!address || !present.has(port)) continue;
      ports.push({
        port,
        name: state.name,
        mac: address.mac,
        ipv4: address.ipv4,
        ipv6: settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, address.mac) : null,
      });
    }
    const natForwards = host.config.forwards === "nft" ? this.natForwards(states.map((s) => s.state)) : [];
    // Settings saved before the operator chose nft forwards can still say isolated (refused since).
    if (natForwards.length > 0 && settings.mode === "isolated")
      this.vms.log(
        "network: the forwards are DNAT but the mode is isolated: they carry nothing until nat or routed",
      );
    await applyNetworkRules({
      netns: host.config.netns ? `/run/netns/${host.config.netns}` : null,
      bridge: host.config.bridge,
      uplink: null,
      settings,
      ports,
      natForwards,
      forwardAddress: host.config.forwardAddress,
    });
    await this.refreshDns();
  }

  /** The DNAT forwards, each to the address its VM's traffic has now (none for a VM without one). */
  private natForwards(states: VmAddressState[]): (PortForward & { ipv4: string })[] {
    const address = new Map(states.map((s) => [s.name, currentAddress(s)?.ipv4]));
    return (this.forwards?.list() ?? []).flatMap((f) => {
      const ipv4 = address.get(f.name);
      return ipv4 ? [{ ...f, ipv4 }] : [];
    });
  }

  /**
   * What the VM's seed disk says of its network (null: no network device). While it runs (a seed
   * rewritten for a reboot from inside the guest, which keeps its device), the booted address.
   */
  async seedNetwork(runtime: Runtime): Promise<SeedNetwork | null> {
    if (!this.host) return null;
    const address = currentAddress(await this.stateOf(runtime));
    if (!address) return null;
    const settings = await this.host.settings();
    const pool = poolOf(settings);
    const ipv6 = settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, address.mac) : null;
    return {
      mac: address.mac,
      ipv4: `${address.ipv4}/${pool.subnet.prefix}`,
      gateway4: settings.gateway,
      ipv6: ipv6 ? `${ipv6}/64` : null,
      // IPv6 leaves the bridge only in routed mode (there is no IPv6 NAT): then the prefix's ::1.
      gateway6: ipv6 && settings.mode === "routed" ? (listenAddresses(settings)[1] ?? null) : null,
      dns: guestDns(settings),
    };
  }
}
