import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AgentRequest, CAPABILITIES, TASK_OPS } from "./agent";

const req = (op: string, args: unknown) => ({ v: 1, id: randomUUID(), op, args });
const parse = (op: string, args: unknown) => AgentRequest.safeParse(req(op, args));
const ok = (op: string, args: unknown) => parse(op, args).success;

describe("management verbs (capability vm.manage)", () => {
  it("take a name and bounded numbers, a slug owner or a boolean", () => {
    expect(ok("vm.setMemory", { name: "alice", memoryMiB: 256 })).toBe(true);
    expect(ok("vm.growStorage", { name: "alice", storageGiB: 16 })).toBe(true);
    expect(ok("vm.setOwner", { name: "alice", owner: "bob" })).toBe(true);
    expect(ok("owner.remove", { owner: "bob" })).toBe(true);
    expect(ok("vm.destroy", { name: "alice", confirm: "alice", keepSnapshots: true })).toBe(true);
  });

  it("destroy deletes snapshots unless asked to keep them", () => {
    const parsed = parse("vm.destroy", { name: "alice", confirm: "alice" });
    expect(parsed.success && parsed.data.op === "vm.destroy" && parsed.data.args.keepSnapshots).toBe(false);
  });

  it("refuse out-of-range sizes, hostile owners, paths and extra fields", () => {
    for (const memoryMiB of [0, 15, 65537, 1.5, "256", -1]) {
      expect(ok("vm.setMemory", { name: "alice", memoryMiB }), String(memoryMiB)).toBe(false);
    }
    for (const storageGiB of [0, 4097, 2.5, "8"]) {
      expect(ok("vm.growStorage", { name: "alice", storageGiB }), String(storageGiB)).toBe(false);
    }
    for (const owner of ["../root", "root;id", "-rf", "Bob", "a".repeat(25), "", "b/c"]) {
      expect(ok("vm.setOwner", { name: "alice", owner }), owner).toBe(false);
      expect(ok("owner.remove", { owner }), owner).toBe(false);
    }
    expect(ok("vm.growStorage", { name: "alice", storageGiB: 16, path: "/etc/shadow" })).toBe(false);
    expect(ok("vm.setOwner", { name: "alice" })).toBe(false);
    expect(ok("owner.remove", { owner: "bob", deleteData: true })).toBe(false);
    expect(ok("vm.destroy", { name: "alice", confirm: "alice", keepSnapshots: "yes" })).toBe(false);
    expect(ok("vm.setMemory", { name: "../x", memoryMiB: 64 })).toBe(false);
  });

  it("storage growth and owner change are tasks; the capability is advertised", () => {
    expect(TASK_OPS).toContain("vm.growStorage");
    expect(TASK_OPS).toContain("vm.setOwner");
    expect(TASK_OPS).not.toContain("vm.setMemory");
    expect(CAPABILITIES).toContain("vm.manage");
  });
});
