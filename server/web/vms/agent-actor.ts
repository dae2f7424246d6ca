import type { Actor as AgentActor } from "../../protocol/agent";
import type { Actor } from "../dal/caller";

/**
 * The acting user as the agent is told it with a VM verb (issue 11 point 9): who, and on what
 * basis the web tier allowed it. A user acting on their own VM acts as its `owner`; anyone else
 * got past `getVmForCaller` by an admin permission (`admin`; grants, when they exist, say
 * `grant`). The CLI and the system act as no user: the agent gets no actor.
 */
export function agentActor(actor: Actor, vm: { ownerId: string }): AgentActor | undefined {
  if (typeof actor === "string") return undefined;
  return { userId: actor.id, username: actor.username, basis: actor.id === vm.ownerId ? "owner" : "admin" };
}
