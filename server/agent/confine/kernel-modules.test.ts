import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GUEST_MODULES } from "./initramfs";
import {
  moduleName,
  parseModulesBuiltin,
  parseModulesDep,
  resolveModules,
  UnknownModuleError,
} from "./kernel-modules";

const DEP = `kernel/lib/crc-ccitt.ko:
kernel/net/ipv6/ipv6.ko: kernel/lib/crc-ccitt.ko
kernel/net/netfilter/nfnetlink.ko:
kernel/net/netfilter/nf_tables.ko: kernel/net/netfilter/nfnetlink.ko
kernel/net/netfilter/nft_ct.ko: kernel/net/netfilter/nf_tables.ko kernel/net/netfilter/nfnetlink.ko kernel/net/netfilter/nf_conntrack.ko
kernel/net/netfilter/nf_conntrack.ko:
kernel/fs/nls/nls_iso8859-1.ko:
`;

describe("kernel modules", () => {
  const deps = parseModulesDep(DEP);

  it("names modules the way modprobe does", () => {
    expect(moduleName("kernel/fs/nls/nls_iso8859-1.ko")).toBe("nls_iso8859_1");
    expect(moduleName("kernel/net/ipv6/ipv6.ko.xz")).toBe("ipv6");
  });

  it("loads every dependency before its user, each once", () => {
    const { load } = resolveModules(deps, ["nft_ct", "ipv6", "nf_tables", "nls_iso8859-1"]);
    expect(load).toEqual([
      "kernel/net/netfilter/nfnetlink.ko",
      "kernel/net/netfilter/nf_tables.ko",
      "kernel/net/netfilter/nf_conntrack.ko",
      "kernel/net/netfilter/nft_ct.ko",
      "kernel/lib/crc-ccitt.ko",
      "kernel/net/ipv6/ipv6.ko",
      "kernel/fs/nls/nls_iso8859-1.ko",
    ]);
  });

  it("accepts a built-in module and refuses a name that is neither", () => {
    expect(resolveModules(deps, ["unix"], new Set(["unix"]))).toEqual({ load: [], builtin: ["unix"] });
    expect(() => resolveModules(deps, ["ipv7"])).toThrow(UnknownModuleError);
  });

  const real = "/usr/lib/uml/modules";
  it.runIf(existsSync(real))("resolves the product's list against this host's UML kernel", () => {
    const version = readdirSync(real)[0] ?? "";
    const dir = `${real}/${version}`;
    const result = resolveModules(
      parseModulesDep(readFileSync(`${dir}/modules.dep`, "utf8")),
      GUEST_MODULES,
      parseModulesBuiltin(readFileSync(`${dir}/modules.builtin`, "utf8")),
    );
    const names = result.load.map(moduleName);
    expect(names.indexOf("nfnetlink")).toBeLessThan(names.indexOf("nf_tables"));
    expect(names).toContain("ipv6");
    expect(names.at(-1)).not.toBe("nfnetlink");
    expect(new Set(names).size).toBe(names.length);
  });
});
