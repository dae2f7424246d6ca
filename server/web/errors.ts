/** The closed set of error codes the web tier answers with, and the error that carries one. */
export type ErrorCode =
  | "unauthorized"
  | "forbidden"
  | "bad-origin"
  | "invalid"
  | "not-found"
  | "conflict"
  | "rate-limited"
  | "busy"
  | "internal";

/** Thrown by the DAL or a handler to answer with a specific, safe message (shown to the user). */
export class ActionFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fieldErrors?: Record<string, string>,
  ) {
    super(message);
  }
}
