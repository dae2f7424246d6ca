import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AgentRequest, ERROR_CODES, HTTP_STATUS_BY_CODE, OPS } from "./agent";
import { isSlug, MacAddress, OwnerName, VmName } from "./names";

const req = (op: string, args: unknown, extra: Record<string, unknown> = {}) => ({
  v: 1,
  id: randomUUID(),
  op,
  args,
  ...extra,
});
const createArgs = {
  name: "alice",
  owner: "alice",
  image: "busybox-1",
  memoryMiB: 128,
  storageGiB: 8,
  swapMiB: 256,
};

describe("names", () => {
  it("check 24: accepts slugs and refuses hostile names", () => {
    for (const ok of ["abc", "alice", "vm-1", "a1b", "x".repeat(32)]) expect(isSlug(ok), ok).toBe(true);
    for (const bad of [
      "../x",
      "-rf",
      "$(id)",
      "`id`",
      "x;id",
      "a/b",
      "new\nline",
      "nul\0x",
      "x".repeat(300),
      "ünï",
      "ab",
      "Abc",
      "abc-",
      "1abc",
      "a b",
      "x".repeat(33),
      "abc\r\n",
    ]) {
      expect(VmName.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
  it("bounds owner names so that prefix + owner fits a Linux user name", () => {
    expect(OwnerName.safeParse("x".repeat(24)).success).toBe(true);
    expect(OwnerName.safeParse("x".repeat(25)).success).toBe(false);
  });
  it("accepts only locally administered unicast MACs", () => {
    expect(MacAddress.safeParse("02:00:00:aa:bb:cc").success).toBe(true);
    expect(MacAddress.safeParse("00:11:22:33:44:55").success).toBe(false);
    expect(MacAddress.safeParse("03:00:00:aa:bb:cc").success).toBe(false);
  });
});

describe("AgentRequest", () => {
  it("accepts every verb with valid args", () => {
    expect(AgentRequest.safeParse(req("vm.create", createArgs)).success).toBe(true);
    expect(AgentRequest.safeParse(req("vm.destroy", { name: "alice", confirm: "alice" })).success).toBe(true);
    expect(AgentRequest.safeParse(req("vm.setAutostart", { name: "alice", autostart: true })).success).toBe(
      true,
    );
    for (const op of ["vm.start", "vm.reboot", "vm.reset", "vm.shutdown", "vm.poweroff", "vm.status"]) {
      expect(AgentRequest.safeParse(req(op, { name: "alice" })).success, op).toBe(true);
    }
    for (const op of ["agent.health", "image.list", "vm.list"])
      expect(AgentRequest.safeParse(req(op, {})).success).toBe(true);
    expect(OPS).toContain("task.get");
  });
  it("check 23: refuses unknown ops, extra fields, wrong types, bad versions and ids", () => {
    const bad = [
      req("vm.exec", { name: "alice" }),
      req("vm.start", { name: "alice", path: "/etc" }),
      req("vm.start", { name: "alice" }, { extra: 1 }),
      req("vm.create", { ...createArgs, memoryMiB: "128" }),
      req("vm.create", { ...createArgs, memoryMiB: 1.5 }),
      req("vm.create", { ...createArgs, storageGiB: 100_000 }),
      req("vm.create", { ...createArgs, image: "../../etc/shadow" }),
      req("vm.destroy", { name: "alice" }),
      { ...req("vm.list", {}), v: 2 },
      { ...req("vm.list", {}), id: "not-a-uuid" },
      { v: 1, op: "vm.list", args: {} },
      null,
      "vm.list",
    ];
    for (const body of bad) expect(AgentRequest.safeParse(body).success, JSON.stringify(body)).toBe(false);
  });
  it("vm.reboot: grace 1..3600 s (default 90), countdown 0..3600 s (default 30), whole seconds", () => {
    const parsed = AgentRequest.parse(req("vm.reboot", { name: "alice" }));
    expect(parsed.args).toEqual({ name: "alice", graceSeconds: 90, countdownSeconds: 30 });
    const short = AgentRequest.parse(
      req("vm.reboot", { name: "alice", graceSeconds: 1, countdownSeconds: 0 }),
    );
    expect(short.args).toEqual({ name: "alice", graceSeconds: 1, countdownSeconds: 0 });
    for (const args of [
      { graceSeconds: 0 },
      { graceSeconds: 3601 },
      { countdownSeconds: -1 },
      { countdownSeconds: 3601 },
      { graceSeconds: 1.5 },
      { countdownSeconds: "30" },
    ]) {
      expect(
        AgentRequest.safeParse(req("vm.reboot", { name: "alice", ...args })).success,
        JSON.stringify(args),
      ).toBe(false);
    }
  });
  it("maps every error code to an HTTP status", () => {
    for (const code of ERROR_CODES) expect(HTTP_STATUS_BY_CODE[code]).toBeGreaterThanOrEqual(400);
  });
});
