/**
 * The acting user the web tier names with a VM verb (issue 11 point 9): recorded in the agent's
 * log line, and an `owner` request from someone who is not the VM's recorded owner is refused
 * (defence in depth: the web tier decided first; the agent's vm.json is the second opinion).
 */
import type { Actor } from "../protocol/agent";
import { AgentFailure } from "./errors";

/** `actor=<username>(<userId>)/<basis>` for the log line, or `actor=-`. */
export function actorLogField(actor: Actor | undefined): string {
  return actor ? `actor=${actor.username}(${actor.userId})/${actor.basis}` : "actor=-";
}

/** Throws `access-denied` when an owner-basis request does not come from the VM's owner. */
export function assertActorMayAct(actor: Actor | undefined, vmOwner: string | null): void {
  if (actor?.basis !== "owner" || vmOwner === null) return;
  if (actor.username !== vmOwner) throw new AgentFailure("access-denied", "not the owner of this VM");
}
