import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AgentRequest, CAPABILITIES, TASK_OPS } from "./agent";

const req = (op: string, args: unknown) => ({ v: 1, id: randomUUID(), op, args });
const ok = (op: string, args: unknown) => AgentRequest.safeParse(req(op, args)).success;

describe("snapshot verbs", () => {
  const id = randomUUID();

  it("take ids and booleans only", () => {
    expect(ok("snapshot.create", { name: "alice", id, includeStorage: true })).toBe(true);
    expect(ok("snapshot.list", { name: "alice" })).toBe(true);
    expect(ok("snapshot.restore", { name: "alice", id, confirm: id, safetyId: randomUUID() })).toBe(true);
    expect(ok("snapshot.delete", { name: "alice", id })).toBe(true);
    expect(ok("snapshot.usage", {})).toBe(true);
    expect(ok("snapshot.usage", { name: "alice" })).toBe(true);
  });

  it("refuse paths, non-UUID ids, extra fields and missing confirmations", () => {
    for (const bad of ["../../etc", "a/b", "", "x".repeat(40), `${id}/..`, "-rf"]) {
      expect(ok("snapshot.delete", { name: "alice", id: bad }), bad).toBe(false);
      expect(ok("snapshot.create", { name: "alice", id: bad, includeStorage: false }), bad).toBe(false);
    }
    expect(ok("snapshot.create", { name: "alice", id, includeStorage: "yes" })).toBe(false);
    expect(ok("snapshot.create", { name: "alice", id, includeStorage: false, path: "/etc" })).toBe(false);
    expect(ok("snapshot.create", { name: "../x", id, includeStorage: false })).toBe(false);
    expect(ok("snapshot.restore", { name: "alice", id, safetyId: randomUUID() })).toBe(false);
    expect(ok("snapshot.list", {})).toBe(false);
  });

  it("create and restore are tasks; the capability is advertised", () => {
    expect(TASK_OPS).toContain("snapshot.create");
    expect(TASK_OPS).toContain("snapshot.restore");
    expect(CAPABILITIES).toContain("snapshots");
  });
});
