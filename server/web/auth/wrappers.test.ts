import { beforeEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import type { Caller } from "../dal/caller";

const state = vi.hoisted(() => ({
  headers: new Headers(),
  caller: null as Caller | null,
  sessionError: null as Error | null,
}));

vi.mock("next/headers", () => ({ headers: async () => state.headers }));
vi.mock("../dal/get-session", () => ({
  getSession: async () => {
    if (state.sessionError) throw state.sessionError;
    return state.caller;
  },
}));
vi.mock("../env", () => ({ getEnv: () => ({ origins: ["http://127.0.0.1:3000"] }) }));

const { ActionFailure, adminAction, memberAction, publicAction, withAdmin, withMember, withPublic } =
  await import("./wrappers");
const { NextRequest } = await import("next/server");

const member: Caller = {
  id: "u1",
  username: "max",
  name: "Max",
  email: "m@x.org",
  role: "member",
  status: "active",
};
const admin: Caller = { ...member, id: "u2", username: "ada", role: "admin" };
const ORIGIN = "http://127.0.0.1:3000";

function as(caller: Caller | null, origin: string | null = ORIGIN) {
  state.caller = caller;
  state.sessionError = null;
  state.headers = new Headers(origin === null ? {} : { origin });
}

/** What Prisma's SQLite adapter throws when another process holds the write lock. */
const busyError = () =>
  Object.assign(new Error("Operation has timed out"), {
    code: "P1008",
    meta: { driverAdapterError: { cause: { kind: "SocketTimeout" } } },
  });

/** What Prisma throws on a full disk (measured in crash-safety.itest.ts: WAL's -shm cannot grow). */
const fullDiskError = () =>
  Object.assign(
    new Error(
      "Invalid `db.auditEvent.create()` invocation: Database error. Code: `SQLITE_IOERR_SHMSIZE`. Message: `disk I/O error`",
    ),
    { code: "P2039", meta: {} },
  );

const Input = z.object({ n: z.coerce.number().int().min(1, "Must be positive") });

describe("server action wrappers", () => {
  const fn = vi.fn(async (input: { n: number }) => input.n * 2);
  beforeEach(() => {
    fn.mockClear();
  });

  const pub = publicAction(Input, fn);
  const mem = memberAction("vm.power", Input, fn);
  const adm = adminAction("accounts.approve", Input, fn);

  it("runs with the right session, permission, origin and input", async () => {
    as(member);
    expect(await mem({ n: 2 })).toEqual({ ok: true, data: 4 });
    as(admin);
    expect(await adm({ n: 3 })).toEqual({ ok: true, data: 6 });
    as(null);
    expect(await pub({ n: 1 })).toEqual({ ok: true, data: 2 });
  });

  it("refuses a foreign, null or missing Origin before anything else", async () => {
    for (const origin of ["http://evil.example", "null", null, "http://127.0.0.1:3000.evil.example"]) {
      as(admin, origin);
      for (const action of [pub, mem, adm])
        expect(await action({ n: 1 })).toMatchObject({ ok: false, error: { code: "bad-origin" } });
    }
    expect(fn).not.toHaveBeenCalled();
  });

  it("check 8: needs an active session for member and admin actions", async () => {
    as(null);
    expect(await mem({ n: 1 })).toMatchObject({ ok: false, error: { code: "unauthorized" } });
    as({ ...member, status: "pending" });
    expect(await mem({ n: 1 })).toMatchObject({ ok: false, error: { code: "unauthorized" } });
    expect(fn).not.toHaveBeenCalled();
  });

  it("a member cannot run an admin action", async () => {
    as(member);
    expect(await adm({ n: 1 })).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(fn).not.toHaveBeenCalled();
  });

  it("checks the permission table, not only the role", async () => {
    as(member);
    const needsAudit = memberAction("audit.read", Input, fn);
    expect(await needsAudit({ n: 1 })).toMatchObject({ ok: false, error: { code: "forbidden" } });
  });

  it("validates input with field errors, from objects and FormData", async () => {
    as(member);
    expect(await mem({ n: 0 })).toEqual({
      ok: false,
      error: {
        code: "invalid",
        message: "Please check the highlighted fields.",
        fieldErrors: { n: "Must be positive" },
      },
    });
    const fd = new FormData();
    fd.set("n", "5");
    fd.set("$ACTION_ID_abc", "");
    expect(await mem(fd)).toEqual({ ok: true, data: 10 });
  });

  it("passes safe failures through and hides internal errors", async () => {
    as(member);
    const safe = memberAction("vm.read", Input, async () => {
      throw new ActionFailure("conflict", "VM is busy");
    });
    expect(await safe({ n: 1 })).toEqual({ ok: false, error: { code: "conflict", message: "VM is busy" } });
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const boom = memberAction("vm.read", Input, async () => {
      throw new Error("SQLITE_CORRUPT at /srv/secret/path");
    });
    const res = await boom({ n: 1 });
    expect(res).toEqual({
      ok: false,
      error: { code: "internal", message: "Something went wrong on our side. Please try again." },
    });
    expect(JSON.stringify(res)).not.toContain("secret");
    spy.mockRestore();
  });

  it("check 37: a locked database is 'busy, try again in a moment', not a 500 or an error-level log", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const info = vi.spyOn(console, "info").mockImplementation(() => {});
    as(member);
    const locked = memberAction("vm.read", Input, async () => {
      throw busyError();
    });
    expect(await locked({ n: 1 })).toEqual({
      ok: false,
      error: { code: "busy", message: "The database is busy; try again in a moment." },
    });
    state.sessionError = busyError();
    expect(await mem({ n: 1 })).toMatchObject({ ok: false, error: { code: "busy" } });
    expect(error).not.toHaveBeenCalled();
    error.mockRestore();
    info.mockRestore();
  });
});

describe("route handler wrappers", () => {
  const req = (
    method: string,
    body?: unknown,
    origin: string | null = ORIGIN,
    url = "http://127.0.0.1:3000/api/x",
  ) =>
    new NextRequest(url, {
      method,
      headers: origin === null ? {} : { origin },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const ctx = { params: Promise.resolve({}) };
  const get = withMember("vm.read", z.object({ q: z.string().optional() }), async (input) => ({
    q: input.q ?? null,
  }));
  const post = withAdmin("accounts.approve", Input, async (input) => input.n + 1);
  const open = withPublic(z.object({}), async () => "ok");

  it("GET needs no Origin but needs a session", async () => {
    as(member, null);
    const res = await get(req("GET", undefined, null, "http://127.0.0.1:3000/api/x?q=hi"), ctx);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, data: { q: "hi" } });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    as(null, null);
    expect((await get(req("GET", undefined, null), ctx)).status).toBe(401);
  });

  it("check 5: POST needs our Origin (403 otherwise), then the role and permission", async () => {
    as(admin, "http://evil.example");
    expect((await post(req("POST", { n: 1 }, "http://evil.example"), ctx)).status).toBe(403);
    as(admin, null);
    expect((await post(req("POST", { n: 1 }, null), ctx)).status).toBe(403);
    as(member);
    const forbidden = await post(req("POST", { n: 1 }), ctx);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ ok: false, error: { code: "forbidden" } });
    as(admin);
    const ok = await post(req("POST", { n: 1 }), ctx);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, data: 2 });
  });

  it("answers 400 for bad JSON or bad input, and checks Origin on public mutations too", async () => {
    as(admin);
    const bad = new NextRequest("http://127.0.0.1:3000/api/x", {
      method: "POST",
      headers: { origin: ORIGIN },
      body: "{nope",
    });
    expect((await post(bad, ctx)).status).toBe(400);
    expect((await post(req("POST", { n: -1 }), ctx)).status).toBe(400);
    as(null, "http://evil.example");
    expect((await open(req("POST", {}, "http://evil.example"), ctx)).status).toBe(403);
    as(null, null);
    expect((await open(req("GET", undefined, null), ctx)).status).toBe(200);
  });

  it("check 38: a full disk answers 503 with a clear message, not a 500 or an error-level log", async () => {
    const logged = { error: vi.spyOn(console, "error").mockImplementation(() => {}) };
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    as(admin);
    const full = withAdmin("accounts.approve", Input, async () => {
      throw fullDiskError();
    });
    const res = await full(req("POST", { n: 1 }), ctx);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(await res.json()).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/disk is full/) },
    });
    const action = adminAction("accounts.approve", Input, async () => {
      throw fullDiskError();
    });
    expect(await action({ n: 1 })).toMatchObject({
      ok: false,
      error: { message: expect.stringMatching(/disk is full/) },
    });
    expect(logged.error).not.toHaveBeenCalled();
    expect(warn).toHaveBeenCalledTimes(2);
    logged.error.mockRestore();
    warn.mockRestore();
  });

  it("check 37: a locked database answers 503 with Retry-After", async () => {
    const info = vi.spyOn(console, "info").mockImplementation(() => {});
    as(admin);
    const locked = withAdmin("accounts.approve", Input, async () => {
      throw busyError();
    });
    const res = await locked(req("POST", { n: 1 }), ctx);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.json()).toMatchObject({ ok: false, error: { code: "busy" } });
    state.sessionError = busyError();
    expect((await get(req("GET"), ctx)).status).toBe(503);
    info.mockRestore();
  });
});
