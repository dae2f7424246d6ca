import { describe, expect, it } from "vitest";
import { AgentRequest } from "../protocol/agent";
import { actorLogField, assertActorMayAct } from "./actor";

const alice = { userId: "u_alice", username: "alice", basis: "owner" } as const;

describe("the acting user on VM verbs (issue 11 point 9)", () => {
  it("check 2: an owner-basis request from someone who is not the VM's recorded owner is refused", () => {
    expect(() => assertActorMayAct({ ...alice, username: "bob", userId: "u_bob" }, "alice")).toThrow(
      expect.objectContaining({ code: "access-denied" }),
    );
    expect(() => assertActorMayAct(alice, "alice")).not.toThrow();
  });

  it("admin and grant requests are the web tier's decision; no actor (the host CLI) passes", () => {
    expect(() =>
      assertActorMayAct({ userId: "u_root", username: "root", basis: "admin" }, "alice"),
    ).not.toThrow();
    expect(() =>
      assertActorMayAct({ userId: "u_carol", username: "carol", basis: "grant" }, "alice"),
    ).not.toThrow();
    expect(() => assertActorMayAct(undefined, "alice")).not.toThrow();
  });

  it("names the actor in the log line", () => {
    expect(actorLogField(alice)).toBe("actor=alice(u_alice)/owner");
    expect(actorLogField(undefined)).toBe("actor=-");
  });

  it("check 23: the protocol stays strict: actor only on VM verbs, no extra field, a closed basis", () => {
    const base = { v: 1, id: "7b0c5d38-3c2e-4a52-9a8c-2c1f7b2d9e11" };
    expect(
      AgentRequest.safeParse({ ...base, op: "vm.reboot", args: { name: "alpha" }, actor: alice }).success,
    ).toBe(true);
    expect(AgentRequest.safeParse({ ...base, op: "vm.reboot", args: { name: "alpha" } }).success).toBe(true);
    expect(AgentRequest.safeParse({ ...base, op: "agent.health", args: {}, actor: alice }).success).toBe(
      false,
    );
    expect(
      AgentRequest.safeParse({
        ...base,
        op: "vm.reboot",
        args: { name: "alpha" },
        actor: { ...alice, basis: "root" },
      }).success,
    ).toBe(false);
    expect(
      AgentRequest.safeParse({
        ...base,
        op: "vm.reboot",
        args: { name: "alpha" },
        actor: { ...alice, extra: 1 },
      }).success,
    ).toBe(false);
    expect(
      AgentRequest.safeParse({
        ...base,
        op: "vm.reboot",
        args: { name: "alpha" },
        actor: { ...alice, username: "a\nb" },
      }).success,
    ).toBe(false);
  });
});
