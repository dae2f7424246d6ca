/**
 * Agent errors become user-facing messages here, once: the agent's own text (which may name host
 * details) never reaches the browser; it goes to the web tier's log.
 */
import { ERROR_CODES, type ErrorCode, type Op } from "../../protocol/agent";
import { AgentCallError } from "../agent/client";
import { ActionFailure } from "../errors";

/**
 * The agent client lives on globalThis and Next compiles routes into separate module graphs, so
 * an AgentCallError may come from another copy of the class: recognise it by shape.
 */
function agentCodeOf(error: unknown): ErrorCode | null {
  if (error instanceof AgentCallError) return error.code;
  if (error instanceof Error && error.name === "AgentCallError" && "code" in error) {
    const code = (error as { code: unknown }).code;
    return (ERROR_CODES as readonly unknown[]).includes(code) ? (code as ErrorCode) : "internal";
  }
  return null;
}

export function userMessageOf(error: unknown, op?: Op): { code: ActionFailure["code"]; message: string } {
  if (error instanceof ActionFailure) return { code: error.code, message: error.message };
  const code = agentCodeOf(error);
  if (!code) {
    return { code: "internal", message: "Something went wrong on our side. Please try again." };
  }
  switch (code) {
    case "not-found":
      return { code: "not-found", message: "The host does not know this VM (or image)." };
    case "invalid-state":
      return {
        code: "conflict",
        message:
          op === "vm.start"
            ? "The VM is already running."
            : op === "vm.destroy"
              ? "Stop the VM before destroying it."
              : op === "vm.growStorage" || op === "vm.setOwner"
                ? "Shut the VM down first (or its disk files are not as the host expects; nothing was changed)."
                : op === "owner.remove"
                  ? "This account still owns a VM on the host."
                  : op === "vm.create"
                    ? "The VM cannot be created in its current state."
                    : op === "vm.resume"
                      ? "The VM is not paused for disk space (it may have resumed already)."
                      : "The VM is not running (or stopped while booting).",
      };
    case "conflict":
      return {
        code: "conflict",
        message:
          op === "vm.create"
            ? "A VM with that name already exists on the host."
            : "Another operation is in progress on this VM; wait for it to finish.",
      };
    case "timeout":
      return { code: "internal", message: "The host did not answer in time. The VM may still be busy." };
    case "invalid-request":
      return {
        code: "invalid",
        message:
          op === "vm.growStorage"
            ? "Storage only grows: choose a size larger than today's."
            : "The host refused the request as invalid.",
      };
    case "no-space":
      return {
        code: "conflict",
        message:
          "Not enough free disk space on the host: this would cross the host's free-space reserve. Ask an admin to free space or change the reserve.",
      };
    default:
      return { code: "internal", message: "The host agent is unavailable or failed. Try again shortly." };
  }
}

/** Logs the agent's own text on the server, returns the failure to throw at the browser. */
export function toActionFailure(error: unknown, op?: Op): ActionFailure {
  if (error instanceof ActionFailure) return error;
  console.error(`[vms] ${op ?? "agent"} failed:`, error instanceof Error ? error.message : error);
  const { code, message } = userMessageOf(error, op);
  return new ActionFailure(code, message);
}
