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
