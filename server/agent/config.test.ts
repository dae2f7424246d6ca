import { describe, expect, it } from "vitest";
import { loadConfig } from "./config";
import { DEFAULT_IO_WEIGHT } from "./confine/cgroup";
import { DEFAULT_VM_NICE } from "./confine/sandbox";

const root = process.getuid?.() === 0;
const load = (env: Record<string, string>) => loadConfig(env as NodeJS.ProcessEnv);

describe("agent config: confinement", () => {
  it("confines VMs by default when root (ZAPHOD_CONFINE=off opts out); never unprivileged", () => {
    expect(load({}).confine).toBe(root);
    expect(load({ ZAPHOD_CONFINE: "on" }).confine).toBe(root);
    expect(load({ ZAPHOD_CONFINE: "off" }).confine).toBe(false);
    expect(() => load({ ZAPHOD_CONFINE: "yes" })).toThrow(/ZAPHOD_CONFINE/);
  });

  it("takes the admin's VM weights, only below the agent's and the web tier's (nice 0, I/O weight 100)", () => {
    expect(load({}).vmWeights).toEqual({ nice: DEFAULT_VM_NICE, ioWeight: DEFAULT_IO_WEIGHT });
    expect(load({ ZAPHOD_VM_NICE: "10", ZAPHOD_VM_IO_WEIGHT: "20" }).vmWeights).toEqual({
      nice: 10,
      ioWeight: 20,
    });
    expect(() => load({ ZAPHOD_VM_NICE: "0" })).toThrow(/ZAPHOD_VM_NICE/);
    expect(() => load({ ZAPHOD_VM_NICE: "-5" })).toThrow(/ZAPHOD_VM_NICE/);
    expect(() => load({ ZAPHOD_VM_NICE: "20" })).toThrow(/ZAPHOD_VM_NICE/);
    expect(() => load({ ZAPHOD_VM_IO_WEIGHT: "100" })).toThrow(/ZAPHOD_VM_IO_WEIGHT/);
  });
});

describe("agent config: the host network (ZAPHOD_NET_*)", () => {
  it("is off unless ZAPHOD_NET_NETNS is set, and refuses the other settings without it", () => {
    expect(load({}).network).toBeNull();
    expect(() => load({ ZAPHOD_NET_MODE: "nat" })).toThrow(/ZAPHOD_NET_MODE set without ZAPHOD_NET_NETNS/);
  });

  it("a named namespace: isolated, 10.77.0.0/24 with .1 the gateway, fd00:77::/64, relay on 127.0.0.1", () => {
    expect(load({ ZAPHOD_NET_NETNS: "zt-abc" }).network).toEqual({
      netns: "zt-abc",
      bridge: "zbr0",
      forwardAddress: "127.0.0.1",
      forwards: "relay",
      nic: "vector",
      defaults: {
        mode: "isolated",
        ipv4Subnet: "10.77.0.0/24",
        gateway: "10.77.0.1",
        poolFirst: "10.77.0.2",
        poolLast: "10.77.0.254",
        ipv6Prefix: "fd00:77::/64",
        dns: [],
        vmToVm: true,
        outboundSmtp: false,
      },
    });
  });

  it("host: the host's own namespace, NAT, forwards on 0.0.0.0; each setting may be given", () => {
    const n = load({
      ZAPHOD_NET_NETNS: "host",
      ZAPHOD_NET_SUBNET: "192.0.2.0/28",
      ZAPHOD_NET_GATEWAY: "192.0.2.14",
      ZAPHOD_NET_MODE: "routed",
      ZAPHOD_NET_IPV6_PREFIX: "none",
      ZAPHOD_NET_BRIDGE: "br7",
    }).network;
    expect(n).toMatchObject({ netns: null, bridge: "br7", forwardAddress: "0.0.0.0" });
    expect(n?.defaults).toMatchObject({
      mode: "routed",
      gateway: "192.0.2.14",
      poolFirst: "192.0.2.1",
      poolLast: "192.0.2.13",
      ipv6Prefix: null,
    });
    expect(load({ ZAPHOD_NET_NETNS: "host" }).network?.defaults.mode).toBe("nat");
  });

  it("refuses bad values with the variable's name and the reason", () => {
    const net = (extra: Record<string, string>) => load({ ZAPHOD_NET_NETNS: "zt-x", ...extra });
    expect(() => load({ ZAPHOD_NET_NETNS: "Bad/ns" })).toThrow(/ZAPHOD_NET_NETNS: must be `host`/);
    expect(() => net({ ZAPHOD_NET_MODE: "bridged" })).toThrow(/ZAPHOD_NET_MODE/);
    expect(() => net({ ZAPHOD_NET_SUBNET: "10.77.0.1/24" })).toThrow(/ZAPHOD_NET_SUBNET: .*host bits set/);
    expect(() => net({ ZAPHOD_NET_GATEWAY: "10.78.0.1" })).toThrow(
      /ZAPHOD_NET_GATEWAY: .*inside 10.77.0.0\/24/,
    );
    expect(() => net({ ZAPHOD_NET_IPV6_PREFIX: "fd00::/48" })).toThrow(/ZAPHOD_NET_IPV6_PREFIX/);
    expect(() => net({ ZAPHOD_NET_BRIDGE: "a-very-long-bridge-name" })).toThrow(/ZAPHOD_NET_BRIDGE/);
    expect(() => net({ ZAPHOD_NET_FORWARD_ADDRESS: "localhost" })).toThrow(/ZAPHOD_NET_FORWARD_ADDRESS/);
    expect(() => net({ ZAPHOD_NET_FORWARDS: "dnat" })).toThrow(/ZAPHOD_NET_FORWARDS/);
    expect(() => net({ ZAPHOD_NET_NIC: "daemon" })).toThrow(/ZAPHOD_NET_NIC/);
  });

  it("ZAPHOD_NET_NIC: UML's vector driver by default (the faster, bench/net), tuntap on request", () => {
    expect(load({ ZAPHOD_NET_NETNS: "zt-x" }).network?.nic).toBe("vector");
    expect(load({ ZAPHOD_NET_NETNS: "zt-x", ZAPHOD_NET_NIC: "tuntap" }).network?.nic).toBe("tuntap");
  });

  it("ZAPHOD_NET_FORWARDS=nft: DNAT in the bridge's namespace, only with a route out and not on loopback", () => {
    const net = (extra: Record<string, string>) =>
      load({ ZAPHOD_NET_NETNS: "zt-x", ZAPHOD_NET_FORWARDS: "nft", ...extra }).network;
    expect(net({ ZAPHOD_NET_MODE: "nat" })).toMatchObject({ forwards: "nft", forwardAddress: "0.0.0.0" });
    expect(net({ ZAPHOD_NET_MODE: "routed", ZAPHOD_NET_FORWARD_ADDRESS: "192.0.2.1" })).toMatchObject({
      forwards: "nft",
      forwardAddress: "192.0.2.1",
    });
    expect(load({ ZAPHOD_NET_NETNS: "host", ZAPHOD_NET_FORWARDS: "nft" }).network?.forwards).toBe("nft");
    expect(() => net({})).toThrow(/ZAPHOD_NET_FORWARDS=nft needs a bridge namespace with a route out/);
    expect(() => net({ ZAPHOD_NET_MODE: "nat", ZAPHOD_NET_FORWARD_ADDRESS: "127.0.0.1" })).toThrow(
      /cannot forward a loopback address/,
    );
  });
});
