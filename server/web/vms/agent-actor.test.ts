import { describe, expect, it } from "vitest";
import { AgentRequest } from "../../protocol/agent";
import { agentActor } from "./agent-actor";

describe("agentActor: the acting user the agent is told (issue 11 point 9)", () => {
  const vm = { ownerId: "u-alice" };
  it("check 39: names the user and the basis: owner on their own VM, admin on another's; none for the CLI", () => {
    expect(agentActor({ id: "u-alice", username: "alice" }, vm)).toEqual({
      userId: "u-alice",
      username: "alice",
      basis: "owner",
    });
    expect(agentActor({ id: "u-root", username: "root" }, vm)).toMatchObject({ basis: "admin" });
    expect(agentActor("cli", vm)).toBeUndefined();
    expect(agentActor("system", vm)).toBeUndefined();
  });

  it("what it makes passes the agent's strict schema (UUID user ids, slug usernames)", () => {
    const actor = agentActor({ id: "0b0f8a3e-6a3e-4b8e-9a43-2f7d0c1e5a10", username: "alice-b" }, vm);
    const request = {
      v: 1,
      id: "7b0c5d38-3c2e-4a52-9a8c-2c1f7b2d9e11",
      op: "vm.reset",
      args: { name: "alpha" },
      actor,
    };
    expect(AgentRequest.safeParse(request).success).toBe(true);
  });
});
