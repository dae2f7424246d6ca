import { describe, expect, it } from "vitest";
import type { HostNetworkSettings } from "../../protocol/agent";
import { type NetRulesInput, rulesetText } from "./nft";
import { testSettings } from "./testing/settings";

const settings: HostNetworkSettings = testSettings({ dns: ["10.77.0.1"], vmToVm: false });

function input(over: Partial<HostNetworkSettings> = {}, extra: Partial<NetRulesInput> = {}): NetRulesInput {
  return {
    netns: "/run/netns/zaphod",
    bridge: "zbr0",
    uplink: null,
    settings: { ...settings, ...over },
    ports: [
      {
        port: "zv-a",
        name: "a",
        mac: "fe:fd:0a:4d:00:02",
        ipv4: "10.77.0.2",
        ipv6: "fd00:77::fcfd:aff:fe4d:2",
      },
      { port: "zv-b", name: "b", mac: "fe:fd:0a:4d:00:03", ipv4: "10.77.0.3", ipv6: null },
    ],
    natForwards: [],
    forwardAddress: "192.0.2.1",
    ...extra,
  };
}

/** The lines of one chain (`chain NAME {` … `}`) of one table. */
function chain(text: string, table: string, name: string): string[] {
  const t = text.slice(text.indexOf(`table ${table} {`));
  const start = t.indexOf(`  chain ${name} {`);
  expect(start, `${table} ${name}`).toBeGreaterThan(0);
  const body = t.slice(start);
  return body
    .slice(0, body.indexOf("\n  }"))
    .split("\n")
    .slice(1)
    .map((l) => l.trim());
}

describe("rulesetText", () => {
  it("replaces only zaphod tables, each created then deleted then rebuilt in one text", () => {
    const text = rulesetText(input());
    expect(text.startsWith("add table bridge zaphod-bridge\ndelete table bridge zaphod-bridge\n")).toBe(true);
    for (const m of text.matchAll(/table (\w+) ([\w-]+)/g)) expect(m[2]).toMatch(/^zaphod-/);
    expect(text).not.toMatch(/flush ruleset/);
  });

  it("check 45: anti-spoofing per port: its MAC, IPv4, ARP sender, IPv6 or link-local, NA targets; no RA, no DHCP server", () => {
    const text = rulesetText(input());
    expect(chain(text, "bridge zaphod-bridge", "prerouting")).toEqual(
      expect.arrayContaining(['iifname "zv-a" goto port0', 'iifname "zv-b" goto port1']),
    );
    const a = chain(text, "bridge zaphod-bridge", "port0");
    expect(a).toContain("ether saddr != fe:fd:0a:4d:00:02 drop");
    expect(a).toContain("ether type arp arp saddr ether != fe:fd:0a:4d:00:02 drop");
    expect(a).toContain("ether type arp arp saddr ip != { 10.77.0.2, 0.0.0.0 } drop");
    expect(a).toContain("ether type ip ip saddr != 10.77.0.2 drop");
    expect(a).toContain("ether type ip udp sport 67 drop");
    expect(a).toContain(
      "ether type ip6 ip6 saddr != { fd00:77::fcfd:aff:fe4d:2, fe80::fcfd:aff:fe4d:2, :: } drop",
    );
    expect(a).toContain(
      "ether type ip6 icmpv6 type nd-neighbor-advert @th,64,128 != { 0xfd00007700000000fcfd0afffe4d0002, 0xfe80000000000000fcfd0afffe4d0002 } drop",
    );
    expect(a).toContain("ether type ip6 icmpv6 type { nd-router-advert, nd-redirect, 138 } drop");
    expect(a).toContain("ether type ip6 udp sport 547 drop");
    expect(a.at(-1)).toBe("drop");
    // B has no IPv6 address: link-local and DAD only.
    expect(chain(text, "bridge zaphod-bridge", "port1")).toContain(
      "ether type ip6 ip6 saddr != { fe80::fcfd:aff:fe4d:3, :: } drop",
    );
  });

  it("VM-to-VM: blocked on the bridge and through the gateway unless vmToVm", () => {
    const off = rulesetText(input({ vmToVm: false }));
    expect(chain(off, "bridge zaphod-bridge", "forward")).toContain(
      'iifname { "zv-a", "zv-b" } oifname { "zv-a", "zv-b" } drop',
    );
    expect(chain(off, "inet zaphod-filter", "forward")).toContain('iifname "zbr0" oifname "zbr0" drop');
    const on = rulesetText(input({ vmToVm: true }));
    expect(chain(on, "bridge zaphod-bridge", "forward").join("\n")).not.toContain("drop");
    expect(chain(on, "inet zaphod-filter", "forward")).toContain('iifname "zbr0" oifname "zbr0" accept');
  });

  it("the host's own services: from the bridge only DNS to the gateway, ICMP and replies", () => {
    const text = rulesetText(input());
    expect(chain(text, "inet zaphod-filter", "input")).toContain('iifname "zbr0" jump from_vms');
    expect(chain(text, "inet zaphod-filter", "from_vms")).toEqual([
      "ct state established,related accept",
      "meta l4proto { icmp, ipv6-icmp } accept",
      "ip daddr 10.77.0.1 meta l4proto { tcp, udp } th dport 53 accept",
      "ip6 daddr fd00:77::1 meta l4proto { tcp, udp } th dport 53 accept",
      "drop",
    ]);
  });

  it("outbound SMTP: tcp 25 from the bridge dropped only when outboundSmtp is false", () => {
    expect(chain(rulesetText(input()), "inet zaphod-filter", "forward")).toContain(
      'iifname "zbr0" tcp dport 25 drop',
    );
    expect(rulesetText(input({ outboundSmtp: true }))).not.toContain("dport 25");
  });

  it("modes: nat masquerades and lets in only replies and forwards; routed both ways; isolated nothing", () => {
    const nat = rulesetText(input({ mode: "nat" }));
    expect(chain(nat, "ip zaphod-nat", "postrouting")).toContain(
      'ip saddr 10.77.0.0/24 ip daddr != 10.77.0.0/24 oifname != "zbr0" masquerade',
    );
    expect(chain(nat, "inet zaphod-filter", "forward")).toEqual(
      expect.arrayContaining(['oifname "zbr0" ct status dnat accept', 'oifname "zbr0" drop']),
    );
    const viaUplink = rulesetText(input({ mode: "nat" }, { uplink: "eth0" }));
    expect(viaUplink).toContain('oifname "eth0" masquerade');
    const routed = rulesetText(input({ mode: "routed" }));
    expect(routed).not.toContain("masquerade");
    expect(chain(routed, "inet zaphod-filter", "forward")).toContain('oifname "zbr0" accept');
    const isolated = chain(rulesetText(input({ mode: "isolated" })), "inet zaphod-filter", "forward");
    expect(isolated).toEqual(expect.arrayContaining(['iifname "zbr0" drop', 'oifname "zbr0" drop']));
    expect(isolated.join("\n")).not.toContain("accept\n");
  });

  it("DNAT port forwards on the forward address, for connections from outside and from the host", () => {
    const text = rulesetText(
      input({}, { natForwards: [{ hostPort: 2201, name: "a", vmPort: 22, ipv4: "10.77.0.2" }] }),
    );
    const rule = "ip daddr 192.0.2.1 tcp dport 2201 dnat to 10.77.0.2:22";
    expect(chain(text, "ip zaphod-nat", "prerouting")).toContain(rule);
    expect(chain(text, "ip zaphod-nat", "output")).toContain(rule);
  });

  it("DNAT on 0.0.0.0: every local address of the namespace but loopback", () => {
    const text = rulesetText(
      input(
        {},
        {
          forwardAddress: "0.0.0.0",
          natForwards: [{ hostPort: 2201, name: "a", vmPort: 22, ipv4: "10.77.0.2" }],
        },
      ),
    );
    const rule = "ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 2201 dnat to 10.77.0.2:22";
    expect(chain(text, "ip zaphod-nat", "prerouting")).toContain(rule);
    expect(text).not.toContain("ip daddr 0.0.0.0");
  });

  it("no ports: no empty sets (nft refuses them)", () => {
    expect(rulesetText(input({}, { ports: [] }))).not.toContain("{  }");
  });

  it("refuses names and addresses that are not what they claim (nothing reaches nft unchecked)", () => {
    expect(() => rulesetText(input({}, { bridge: 'zbr0" accept #' }))).toThrow(/interface name/);
    const bad = input();
    bad.ports[0] = { ...(bad.ports[0] as NetRulesInput["ports"][0]), mac: "fe:fd:0a:4d:00:02 accept" };
    expect(() => rulesetText(bad)).toThrow(/MAC/);
    const fwd = [{ hostPort: 2201, name: "a", vmPort: 22, ipv4: "10.77.0.2" }];
    expect(() =>
      rulesetText({ ...input(), natForwards: fwd, forwardAddress: "1.2.3.4; flush ruleset" }),
    ).toThrow(/IPv4/);
    expect(() => rulesetText(input({ gateway: "10.77.0.1 accept" }))).toThrow(/IPv4/);
  });
});
