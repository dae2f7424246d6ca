import { describe, expect, it } from "vitest";
import type { VmConfig } from "../../protocol/agent";
import {
  confText,
  dnsHosts,
  guestDns,
  hostsText,
  listenAddresses,
  nameserversOf,
  resolverArgv,
  resolverWanted,
  upstreams,
} from "./dns";
import { testSettings } from "./testing/settings";

const settings = testSettings;

const RESOLV =
  "# from the host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\noptions edns0\n";

describe("what the guests are told", () => {
  it("the gateway in isolated and nat modes, even with upstreams set", () => {
    for (const mode of ["isolated", "nat"] as const) {
      expect(guestDns(settings({ mode }))).toEqual(["10.77.0.1"]);
      expect(guestDns(settings({ mode, dns: ["192.0.2.53"] }))).toEqual(["10.77.0.1"]);
      expect(resolverWanted(settings({ mode, dns: ["192.0.2.53"] }))).toBe(true);
    }
  });

  it("the upstreams in routed mode (then no resolver), the gateway without usable ones", () => {
    const routed = settings({ mode: "routed", dns: ["192.0.2.53", "198.51.100.53"] });
    expect(guestDns(routed)).toEqual(["192.0.2.53", "198.51.100.53"]);
    expect(resolverWanted(routed)).toBe(false);
    // A loopback upstream is the host's (or the namespace's) own: a guest cannot reach it.
    expect(guestDns(settings({ mode: "routed", dns: ["127.0.0.53"] }))).toEqual(["10.77.0.1"]);
    expect(guestDns(settings({ mode: "routed" }))).toEqual(["10.77.0.1"]);
    expect(resolverWanted(settings({ mode: "routed" }))).toBe(true);
  });
});

describe("the resolver's upstreams and addresses", () => {
  it("listens on the gateway and the IPv6 prefix's ::1 only", () => {
    expect(listenAddresses(settings())).toEqual(["10.77.0.1", "fd00:77::1"]);
    expect(listenAddresses(settings({ ipv6Prefix: null }))).toEqual(["10.77.0.1"]);
  });

  it("reads plain nameserver lines of resolv.conf", () => {
    expect(nameserversOf(RESOLV)).toEqual(["127.0.0.53", "192.0.2.53"]);
    expect(nameserversOf("nameserver ;rm -rf /\nnameserver\n")).toEqual([]);
  });

  it("takes the admin's upstreams but never the gateway itself", () => {
    expect(upstreams(settings({ dns: ["10.77.0.1", "192.0.2.1"] }), RESOLV, true)).toEqual({
      servers: ["192.0.2.1"],
      unreachable: [],
    });
    // A loopback upstream the admin names is the namespace's own (the itest's stub is one).
    expect(upstreams(settings({ dns: ["127.0.0.53"] }), RESOLV, true).servers).toEqual(["127.0.0.53"]);
  });

  it("without them in nat mode, the host's: loopback ones only in the host's own namespace", () => {
    expect(upstreams(settings(), RESOLV, true)).toEqual({
      servers: ["192.0.2.53"],
      unreachable: ["127.0.0.53"],
    });
    expect(upstreams(settings(), RESOLV, false)).toEqual({
      servers: ["127.0.0.53", "192.0.2.53"],
      unreachable: [],
    });
    expect(upstreams(settings(), "nameserver 10.77.0.1\n", false).servers).toEqual([]);
  });

  it("in isolated mode never the host's (forwarding would be a way out)", () => {
    expect(upstreams(settings({ mode: "isolated" }), RESOLV, false)).toEqual({
      servers: [],
      unreachable: [],
    });
  });
});

describe("the files and the argv", () => {
  const vm = (name: string, ipv4: string | null, mac: string) => ({ name, ipv4, mac }) as VmConfig;

  it("maps each VM with an address to its IPv4 and IPv6 (from its MAC), sorted", () => {
    const hosts = dnsHosts(settings(), [
      vm("web", "10.77.0.11", "fe:fd:0a:4d:00:0b"),
      vm("off", null, "fe:fd:00:00:00:01"),
      vm("mail", "10.77.0.10", "fe:fd:0a:4d:00:0a"),
    ]);
    expect(hostsText(hosts)).toBe(
      "10.77.0.10 mail\nfd00:77::fcfd:aff:fe4d:a mail\n10.77.0.11 web\nfd00:77::fcfd:aff:fe4d:b web\n",
    );
    expect(
      hostsText(dnsHosts(settings({ ipv6Prefix: null }), [vm("web", "10.77.0.11", "fe:fd:0a:4d:00:0b")])),
    ).toBe("10.77.0.11 web\n");
  });

  it("refuses a name or address that could put another line into a file", () => {
    expect(() => hostsText([{ name: "a\n1.2.3.4 b", ipv4: "10.77.0.2", ipv6: null }])).toThrow(/bad VM name/);
    expect(() => hostsText([{ name: "a", ipv4: "10.77.0.2 evil", ipv6: null }])).toThrow(/bad IPv4/);
    expect(() => confText({ listen: ["10.77.0.1\nserver=6.6.6.6"], servers: [], hostsFile: "/x" })).toThrow();
    expect(() => confText({ listen: ["10.77.0.1"], servers: [], hostsFile: "/x\nconf-file=/y" })).toThrow();
  });

  it("binds the listen addresses only, no DHCP, no /etc/hosts or resolv.conf", () => {
    const text = confText({
      listen: ["10.77.0.1", "fd00:77::1"],
      servers: ["192.0.2.53"],
      hostsFile: "/var/lib/zaphod/dns/hosts",
    });
    const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(lines).toEqual(
      expect.arrayContaining([
        "bind-interfaces",
        "except-interface=lo",
        "listen-address=10.77.0.1",
        "listen-address=fd00:77::1",
        "no-resolv",
        "server=192.0.2.53",
        "no-hosts",
        "addn-hosts=/var/lib/zaphod/dns/hosts",
      ]),
    );
    expect(lines.some((l) => /^(dhcp|interface=|user=|conf-dir)/.test(l))).toBe(false);
  });

  it("runs dnsmasq in the namespace as nobody with CAP_NET_BIND_SERVICE only, ended with the agent", () => {
    const argv = resolverArgv("zt-1", "/var/lib/zaphod/dns/dnsmasq.conf");
    expect(argv.slice(0, 3)).toEqual(["nsenter", "--net=/run/netns/zt-1", "--"]);
    expect(argv).toEqual(
      expect.arrayContaining([
        "--reuid=nobody",
        "--ambient-caps=-all,+net_bind_service",
        "--bounding-set=-all,+net_bind_service",
        "--pdeathsig=TERM",
      ]),
    );
    expect(argv.slice(-3)).toEqual([
      "dnsmasq",
      "--keep-in-foreground",
      "--conf-file=/var/lib/zaphod/dns/dnsmasq.conf",
    ]);
    expect(resolverArgv(null, "/c")[0]).toBe("setpriv");
    expect(() => resolverArgv("../x", "/c")).toThrow();
  });
});
