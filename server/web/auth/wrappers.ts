/**
 * Every server action and route handler is built by one of these (`npm run check:wrappers` fails
 * otherwise). They check, in order: same origin for mutations, the session (re-read from the
 * database), the permission from the role table, then the input (zod). Results are typed and never
 * carry internals: `{ ok: true, data } | { ok: false, error }`.
 */
import { headers } from "next/headers";
import { unstable_rethrow } from "next/navigation";
import { type NextRequest, NextResponse } from "next/server";
import { z } from "zod";
import type { Caller } from "../dal/caller";
import { getSession } from "../dal/get-session";
import { DB_BUSY_RETRY_AFTER_S, isDbBusy, isDbFull } from "../db/busy";
import { getEnv } from "../env";
import { ActionFailure, type ErrorCode } from "../errors";
import { type RequestMeta, requestMetaFrom } from "../request-meta";
import { isAllowedOrigin, SAFE_METHODS } from "./origin";
import { can, type Permission } from "./permissions";

export { ActionFailure, type ErrorCode };

export type ActionError = { code: ErrorCode; message: string; fieldErrors?: Record<string, string> };
export type ActionResult<T> = { ok: true; data: T } | { ok: false; error: ActionError };

const MESSAGES: Record<ErrorCode, string> = {
  unauthorized: "Please sign in.",
  forbidden: "You are not allowed to do that.",
  "bad-origin": "Request refused: it did not come from this site.",
  invalid: "Please check the highlighted fields.",
  "not-found": "Not found.",
  conflict: "That conflicts with the current state; reload and try again.",
  "rate-limited": "Too many attempts; try again later.",
  busy: "The database is busy; try again in a moment.",
  internal: "Something went wrong on our side. Please try again.",
};

const STATUS: Record<ErrorCode, number> = {
  unauthorized: 401,
  forbidden: 403,
  "bad-origin": 403,
  invalid: 400,
  "not-found": 404,
  conflict: 409,
  "rate-limited": 429,
  busy: 503,
  internal: 500,
};

export function fail(code: ErrorCode, message = MESSAGES[code], fieldErrors?: Record<string, string>) {
  return { ok: false as const, error: { code, message, ...(fieldErrors ? { fieldErrors } : {}) } };
}

export function fieldErrorsOf(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    const key = String(issue.path[0] ?? "_");
    out[key] ??= issue.message;
  }
  return out;
}

function toPlainInput(input: unknown): unknown {
  if (input instanceof FormData) {
    const out: Record<string, FormDataEntryValue> = {};
    for (const [k, v] of input) if (!k.startsWith("$ACTION")) out[k] = v;
    return out;
  }
  return input;
}

type Access =
  | { kind: "public" }
  /** The request carries its own one-time credential (a host's join token): no session, no Origin. */
  | { kind: "credential" }
  | { kind: "member"; permission: Permission }
  | { kind: "admin"; permission: Permission };

type Ctx<A extends Access> = { meta: RequestMeta } & (A extends { kind: "public" } | { kind: "credential" }
  ? { caller: Caller | null }
  : { caller: Caller });

async function authorize(
  access: Access,
  method: string,
  hdrs: { get(name: string): string | null },
): Promise<{ ok: true; caller: Caller | null } | ReturnType<typeof fail>> {
  // A one-time credential in the body is not a browser's ambient authority: no cookie is read, so
  // a cross-site request gains nothing (an agent joining sends no Origin).
  if (access.kind === "credential") return { ok: true, caller: null };
  if (!SAFE_METHODS.has(method) && !isAllowedOrigin(hdrs.get("origin"), getEnv().origins))
    return fail("bad-origin");
  const caller = await getSession();
  if (access.kind === "public") return { ok: true, caller };
  if (caller?.status !== "active") return fail("unauthorized");
  if (access.kind === "admin" && caller.role !== "admin") return fail("forbidden");
  if (!can(caller.role, access.permission)) return fail("forbidden");
  return { ok: true, caller };
}

async function run<T>(fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, data: await fn() };
  } catch (e) {
    unstable_rethrow(e); // redirect()/notFound() must propagate
    if (e instanceof ActionFailure) return fail(e.code, e.message, e.fieldErrors);
    if (isDbBusy(e)) {
      console.info("[action] refused: the database is busy");
      return fail("busy");
    }
    if (isDbFull(e)) {
      // The operator's problem, not a bug here: said once per refused write, without a stack.
      console.warn("[action] refused: the disk holding the database is full");
      return fail("busy", "The server cannot save anything right now: its disk is full. Try again later.");
    }
    console.error("[action] unexpected error:", e);
    return fail("internal");
  }
}

/* ----------------------------------------------------------------------------------------------
 * Server actions. The wrapped action takes a plain object or FormData and returns ActionResult.
 * -------------------------------------------------------------------------------------------- */

function action<A extends Access, S extends z.ZodType, R>(
  access: A,
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<A>) => Promise<R>,
): (input: z.input<S> | FormData) => Promise<ActionResult<R>> {
  const wrapped = async (input: z.input<S> | FormData): Promise<ActionResult<R>> => {
    const hdrs = await headers();
    const authorized = await run(() => authorize(access, "POST", hdrs));
    if (!authorized.ok) return authorized;
    const auth = authorized.data;
    if (!auth.ok) return auth;
    const parsed = schema.safeParse(toPlainInput(input));
    if (!parsed.success) return fail("invalid", MESSAGES.invalid, fieldErrorsOf(parsed.error));
    const ctx = { caller: auth.caller, meta: requestMetaFrom(hdrs) } as Ctx<A>;
    return run(() => fn(parsed.data, ctx));
  };
  Object.defineProperty(wrapped, WRAPPED, { value: access.kind });
  return wrapped;
}

export const WRAPPED = Symbol.for("zaphod.wrapped");

export function publicAction<S extends z.ZodType, R>(
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<{ kind: "public" }>) => Promise<R>,
) {
  return action({ kind: "public" }, schema, fn);
}

export function memberAction<S extends z.ZodType, R>(
  permission: Permission,
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<{ kind: "member"; permission: Permission }>) => Promise<R>,
) {
  return action({ kind: "member", permission }, schema, fn);
}

export function adminAction<S extends z.ZodType, R>(
  permission: Permission,
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<{ kind: "admin"; permission: Permission }>) => Promise<R>,
) {
  return action({ kind: "admin", permission }, schema, fn);
}

/* ----------------------------------------------------------------------------------------------
 * Route handlers. Input: the query string for GET/HEAD, the JSON body otherwise. Answers JSON
 * `ActionResult` with a matching HTTP status.
 * -------------------------------------------------------------------------------------------- */

type RouteCtx = { params: Promise<Record<string, string | string[]>> };
type Handler = (req: NextRequest, ctx: RouteCtx) => Promise<Response>;

const MAX_BODY_BYTES = 64 * 1024;

function respond<T>(result: ActionResult<T>): Response {
  const res = NextResponse.json(result, { status: result.ok ? 200 : STATUS[result.error.code] });
  res.headers.set("Cache-Control", "no-store");
  if (!result.ok && result.error.code === "busy")
    res.headers.set("Retry-After", String(DB_BUSY_RETRY_AFTER_S));
  return res;
}

async function readInput(req: NextRequest): Promise<{ ok: true; value: unknown } | ReturnType<typeof fail>> {
  if (SAFE_METHODS.has(req.method)) return { ok: true, value: Object.fromEntries(req.nextUrl.searchParams) };
  const text = await req.text();
  if (text.length > MAX_BODY_BYTES) return fail("invalid", "Request body too large.");
  if (!text) return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return fail("invalid", "Request body must be JSON.");
  }
}

function route<A extends Access, S extends z.ZodType, R>(
  access: A,
  schema: S,
  fn: (
    input: z.output<S>,
    ctx: Ctx<A> & { req: NextRequest; params: Record<string, string | string[]> },
  ) => Promise<R>,
): Handler {
  const handler: Handler = async (req, routeCtx) => {
    const authorized = await run(() => authorize(access, req.method, req.headers));
    if (!authorized.ok) return respond(authorized);
    const auth = authorized.data;
    if (!auth.ok) return respond(auth);
    const input = await readInput(req);
    if (!input.ok) return respond(input);
    const parsed = schema.safeParse(input.value);
    if (!parsed.success) return respond(fail("invalid", MESSAGES.invalid, fieldErrorsOf(parsed.error)));
    const params = routeCtx?.params ? await routeCtx.params : {};
    const ctx = { caller: auth.caller, meta: requestMetaFrom(req.headers), req, params } as Ctx<A> & {
      req: NextRequest;
      params: Record<string, string | string[]>;
    };
    const result = await run(() => fn(parsed.data, ctx));
    // A handler that streams (Server-Sent Events) returns its own Response once authorized.
    if (result.ok && result.data instanceof Response) return result.data;
    return respond(result);
  };
  Object.defineProperty(handler, WRAPPED, { value: access.kind });
  return handler;
}

export function withPublic<S extends z.ZodType, R>(
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<{ kind: "public" }> & { req: NextRequest }) => Promise<R>,
): Handler {
  return route({ kind: "public" }, schema, fn);
}

/**
 * A route whose input carries its own one-time credential, checked by `fn` (the join endpoint of
 * a new host): no session is read and no Origin is needed. Nothing else may use it.
 */
export function withBodyCredential<S extends z.ZodType, R>(
  schema: S,
  fn: (input: z.output<S>, ctx: Ctx<{ kind: "credential" }> & { req: NextRequest }) => Promise<R>,
): Handler {
  return route({ kind: "credential" }, schema, fn);
}

export function withMember<S extends z.ZodType, R>(
  permission: Permission,
  schema: S,
  fn: (
    input: z.output<S>,
    ctx: Ctx<{ kind: "member"; permission: Permission }> & {
      req: NextRequest;
      params: Record<string, string | string[]>;
    },
  ) => Promise<R>,
): Handler {
  return route({ kind: "member", permission }, schema, fn);
}

export function withAdmin<S extends z.ZodType, R>(
  permission: Permission,
  schema: S,
  fn: (
    input: z.output<S>,
    ctx: Ctx<{ kind: "admin"; permission: Permission }> & {
      req: NextRequest;
      params: Record<string, string | string[]>;
    },
  ) => Promise<R>,
): Handler {
  return route({ kind: "admin", permission }, schema, fn);
}

export const NoInput = z.object({}).strict();
export { z };
