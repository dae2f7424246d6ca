import type { AgentError, ErrorCode } from "../protocol/agent";

/** An error that crosses the socket as `{ code, message }`; anything else becomes `internal`. */
export class AgentFailure extends Error {
  override name = "AgentFailure";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function toAgentError(error: unknown): AgentError {
  if (error instanceof AgentFailure) return { code: error.code, message: error.message };
  return { code: "internal", message: "internal error (see the agent log)" };
}
