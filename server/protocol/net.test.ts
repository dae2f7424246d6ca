import { describe, expect, it } from "vitest";
import {
  AddressError,
  allocateIPv4,
  formatIPv4,
  formatIPv6,
  ipv6FromMac,
  macFromIPv4,
  makePool,
  parseCidr,
  parseIPv4,
  parseIPv6,
  poolCapacity,
  refuseAddress,
} from "./net";

describe("IPv4 addresses and subnets", () => {
  it("round-trips addresses and refuses what libc would read differently", () => {
    expect(formatIPv4(parseIPv4("10.77.0.5"))).toBe("10.77.0.5");
    expect(parseIPv4("255.255.255.255")).toBe(0xffffffff);
    for (const bad of [
      "10.77.0",
      "10.77.0.5.1",
      "010.0.0.1",
      "256.1.1.1",
      "1.2.3.-4",
      "",
      "10.77.0.5 ",
      "0x0a.0.0.1",
    ])
      expect(() => parseIPv4(bad), bad).toThrow(AddressError);
  });

  it("a subnet says where its host bits are", () => {
    expect(parseCidr("10.77.0.0/24")).toEqual({ network: parseIPv4("10.77.0.0"), prefix: 24 });
    expect(() => parseCidr("10.77.0.1/24")).toThrow(
      "10.77.0.1/24 has host bits set: the subnet is 10.77.0.0/24",
    );
    expect(() => parseCidr("10.77.0.0/31")).toThrow("prefix must be 8–30");
    expect(() => parseCidr("10.77.0.0")).toThrow("is not a subnet");
  });
});

describe("the VM address pool", () => {
  const pool = makePool("10.77.0.0/24", "10.77.0.1");

  it("holds neither the network, the broadcast nor the gateway address", () => {
    expect(poolCapacity(pool)).toBe(253);
    expect(allocateIPv4(pool, new Set())).toBe("10.77.0.2");
    expect(refuseAddress(pool, "10.77.0.1", new Map())).toBe(
      "10.77.0.1 is the host's own address on the VM network (the gateway)",
    );
    expect(refuseAddress(pool, "10.77.0.255", new Map())).toBe(
      "10.77.0.255 is outside the VM address pool 10.77.0.2–10.77.0.254",
    );
    expect(refuseAddress(pool, "10.78.0.9", new Map())).toMatch(/outside the VM address pool/);
    expect(refuseAddress(pool, "10.77.0.9", new Map([["10.77.0.9", "alice-vm"]]))).toBe(
      "10.77.0.9 is already alice-vm's address",
    );
    expect(refuseAddress(pool, "10.77.0.9", new Map())).toBeNull();
    expect(refuseAddress(pool, "ten", new Map())).toMatch(/is not an IPv4 address/);
  });

  it("allocates the lowest free address and says when none is left", () => {
    const small = makePool("192.0.2.0/29", "192.0.2.1");
    const taken = new Set<string>();
    const got: (string | null)[] = [];
    for (let i = 0; i < 6; i++) {
      const ip = allocateIPv4(small, taken);
      got.push(ip);
      if (ip) taken.add(ip);
    }
    expect(got).toEqual(["192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", null]);
  });

  it("a range inside the subnet (the seed's block of 32 public addresses)", () => {
    const block = makePool("198.51.100.0/24", "198.51.100.1", {
      first: "198.51.100.32",
      last: "198.51.100.63",
    });
    expect(poolCapacity(block)).toBe(32);
    expect(allocateIPv4(block, new Set())).toBe("198.51.100.32");
    expect(() => makePool("10.77.0.0/24", "10.78.0.1")).toThrow("must be a host address inside 10.77.0.0/24");
    expect(() => makePool("10.77.0.0/24", "10.77.0.1", { first: "10.77.0.0", last: "10.77.0.9" })).toThrow(
      /without its network and broadcast/,
    );
    expect(() => makePool("10.77.0.0/24", "10.77.0.1", { first: "10.77.0.9", last: "10.77.0.3" })).toThrow(
      /after its end/,
    );
  });
});

describe("MAC and IPv6 from the address", () => {
  it("makes the seed's MAC: fe:fd and the address in hex", () => {
    expect(macFromIPv4("10.77.0.5")).toBe("fe:fd:0a:4d:00:05");
    expect(macFromIPv4("192.168.1.254")).toBe("fe:fd:c0:a8:01:fe");
  });

  it("derives the IPv6 address by modified EUI-64 (U/L bit flipped, ff:fe inserted)", () => {
    expect(ipv6FromMac("fd00:77::/64", "fe:fd:0a:4d:00:05")).toBe("fd00:77::fcfd:aff:fe4d:5");
    expect(ipv6FromMac("2001:db8:1:2::/64", "02:00:00:00:00:01")).toBe("2001:db8:1:2:0:ff:fe00:1");
    expect(() => ipv6FromMac("fd00:77::/48", "fe:fd:0a:4d:00:05")).toThrow("is not an IPv6 /64 prefix");
    expect(() => ipv6FromMac("fd00:77::1/64", "fe:fd:0a:4d:00:05")).toThrow("bits set after the first 64");
    expect(() => ipv6FromMac("fd00:77::/64", "FE-FD-0A-4D-00-05")).toThrow("is not a MAC address");
  });

  it("parses and prints IPv6 text as RFC 5952 does", () => {
    expect(formatIPv6(parseIPv6("2001:0db8:0000:0000:0000:ff00:0042:8329"))).toBe("2001:db8::ff00:42:8329");
    expect(formatIPv6(parseIPv6("::1"))).toBe("::1");
    expect(formatIPv6(parseIPv6("fe80::"))).toBe("fe80::");
    expect(formatIPv6(parseIPv6("1:0:0:1:0:0:0:1"))).toBe("1:0:0:1::1");
    expect(formatIPv6(parseIPv6("1:2:3:4:5:6:0:8"))).toBe("1:2:3:4:5:6:0:8");
    for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "::ffff:1.2.3.4", "g::1"])
      expect(() => parseIPv6(bad), bad).toThrow(AddressError);
  });
});
