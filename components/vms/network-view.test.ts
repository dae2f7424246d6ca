import { describe, expect, it } from "vitest";
import {
  addressChangeNotice,
  formatBytes,
  formatRate,
  hostNameOf,
  reachableAddress,
  reachWays,
} from "./network-view";

const base = {
  ipv4: "10.77.0.5",
  bridgeOnHost: true,
  forwardAddress: "127.0.0.1",
  hostName: "panel.example.org",
  forwards: [],
};

describe("how to reach a VM over SSH", () => {
  it("goes straight to the address in routed and nat mode, never in isolated mode", () => {
    expect(reachWays({ ...base, mode: "routed" }).map((w) => w.command)).toEqual(["ssh root@10.77.0.5"]);
    expect(reachWays({ ...base, mode: "nat" })).toEqual([
      { command: "ssh root@10.77.0.5", note: "from the host (the VMs' network is private)" },
    ]);
    expect(reachWays({ ...base, mode: "isolated" })).toEqual([]);
  });

  it("with the bridge in a namespace of its own (the quick start) only forwards reach the VM", () => {
    const forwards = [{ hostPort: 2201, name: "web", vmPort: 22 }];
    for (const mode of ["routed", "nat", "isolated"] as const)
      expect(reachWays({ ...base, bridgeOnHost: false, mode, forwards }).map((w) => w.command)).toEqual([
        "ssh -p 2201 root@127.0.0.1",
      ]);
  });

  it("lists each forward to port 22 on the forward address, in port order, and no other forward", () => {
    const forwards = [
      { hostPort: 2205, name: "web", vmPort: 22 },
      { hostPort: 8080, name: "web", vmPort: 80 },
      { hostPort: 2201, name: "web", vmPort: 22 },
    ];
    expect(reachWays({ ...base, mode: "isolated", forwards }).map((w) => w.command)).toEqual([
      "ssh -p 2201 root@127.0.0.1",
      "ssh -p 2205 root@127.0.0.1",
    ]);
  });

  it("names the host when forwards listen on every address", () => {
    const forwards = [{ hostPort: 2201, name: "web", vmPort: 22 }];
    expect(
      reachWays({ ...base, mode: "nat", forwardAddress: "0.0.0.0", forwards }).map((w) => w.command),
    ).toEqual(["ssh root@10.77.0.5", "ssh -p 2201 root@panel.example.org"]);
  });

  it("offers nothing to a VM without an address", () => {
    const forwards = [{ hostPort: 2201, name: "web", vmPort: 22 }];
    expect(reachWays({ ...base, ipv4: null, mode: "routed", forwards })).toEqual([]);
  });
});

describe("an address change on a running VM", () => {
  it("says the running address stays until the next start, and which one follows", () => {
    const vm = { ipv4: "10.77.0.12", liveIpv4: "10.77.0.10", appliesAtNextBoot: true };
    expect(addressChangeNotice(vm)).toBe(
      "The VM's address changed: it runs with 10.77.0.10 until its next start; from then on its address is 10.77.0.12. Shut it down and start it to apply it (a reboot keeps the running address).",
    );
    expect(reachableAddress(vm)).toBe("10.77.0.10");
  });

  it("covers a VM started with no device, and an address taken away", () => {
    expect(addressChangeNotice({ ipv4: "10.77.0.12", liveIpv4: null, appliesAtNextBoot: true })).toContain(
      "it runs with no network device until its next start; from then on its address is 10.77.0.12.",
    );
    expect(addressChangeNotice({ ipv4: null, liveIpv4: "10.77.0.10", appliesAtNextBoot: true })).toContain(
      "from then on it has no network address.",
    );
  });

  it("says nothing when nothing is pending; a stopped VM is reached at its own address", () => {
    const vm = { ipv4: "10.77.0.12", liveIpv4: null, appliesAtNextBoot: false };
    expect(addressChangeNotice(vm)).toBeNull();
    expect(reachableAddress(vm)).toBe("10.77.0.12");
  });
});

describe("traffic and rate figures", () => {
  it("formats bytes in binary units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 1024 ** 2)).toBe("5.0 MiB");
    expect(formatBytes(300 * 1024 ** 3)).toBe("300 GiB");
  });

  it("formats a rate limit in decimal line-rate units", () => {
    expect(formatRate(null)).toBe("no limit");
    expect(formatRate(512)).toBe("512 kbit/s");
    expect(formatRate(2500)).toBe("2.5 Mbit/s");
    expect(formatRate(1_000_000)).toBe("1 Gbit/s");
  });
});

describe("the host name forwards are reached at", () => {
  it("drops the port of the Host header and refuses anything that is not a host name", () => {
    expect(hostNameOf("panel.example.org:3000")).toBe("panel.example.org");
    expect(hostNameOf("127.0.0.1")).toBe("127.0.0.1");
    expect(hostNameOf("[::1]:3000")).toBe("[::1]");
    expect(hostNameOf("evil.example/<script>")).toBe("<host>");
    expect(hostNameOf(null)).toBe("<host>");
  });
});
