/**
 * security.md check 1: the route × role authorization matrix. Every page, route handler and server
 * action of app/ is called as each role, and what the gate answers must equal the table below; a
 * page, handler, method or action missing from the table fails (deny by default).
 *
 * Nearest equivalent of "from the build manifest": the list comes from app/ itself (the files
 * `next build` compiles its manifest from: page.tsx, route.ts and the exports of app/actions/*),
 * since a build is minutes of CPU and this runs with the unit tests. The console's websocket
 * upgrade is the other door; its matrix is upgrade.test.ts (checks 14-16).
 *
 * The gate is the real one: the wrappers (Origin, session, role, permission) and the pages'
 * requireUser/requireAdmin over the real getSession. The Auth.js token and the user's row are stood
 * in for; a suspended user's token is already no session there (get-session.itest.ts, check 8), so
 * "disabled" sees what "anonymous" sees. Handler and action bodies are replaced by a marker, so
 * "reached" means the gate let the caller through and nothing else ran. Pages run their own body
 * after the gate against an empty database; "reached" there means requireUser/requireAdmin let
 * the caller through (or, on a public page, that it neither redirected nor 404'd).
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";

const REACHED = "reached";
type Role = "anonymous" | "pending" | "member" | "admin" | "disabled";
const ROLES: Role[] = ["anonymous", "pending", "member", "admin", "disabled"];
const ORIGIN = "http://127.0.0.1:3000";

const state = vi.hoisted(() => ({
  role: "anonymous" as string,
  origin: "http://127.0.0.1:3000" as string | null,
  /** Set when a page's requireUser/requireAdmin let the caller through. */
  passed: false,
}));

const USER_ID = "5a0e8a34-1f0e-4c55-9d6a-2b8f7d3c9e10";
const rowFor = (role: string) =>
  role === "anonymous" || role === "disabled"
    ? null
    : {
        id: USER_ID,
        username: role,
        name: role,
        email: `${role}@example.org`,
        role: role === "admin" ? "admin" : "member",
        status: role === "pending" ? "pending" : "active",
        sessionVersion: 1,
      };

vi.mock("@/server/web/auth/auth", () => ({
  SESSION_MAX_AGE_S: 7 * 24 * 3600,
  // The decoded session cookie: none for anonymous; a disabled user's is refused by the row below.
  auth: async () =>
    state.role === "anonymous"
      ? null
      : { uid: USER_ID, sv: 1, sid: `sid-${state.role}`, sat: Math.floor(Date.now() / 1000) - 60 },
  signIn: async () => {
    throw new Error("route matrix: no sign-in");
  },
  signOut: async () => {
    throw new Error("route matrix: no sign-out");
  },
}));
vi.mock("next-auth", () => ({
  default: () => {
    throw new Error("route matrix: Auth.js is stood in for");
  },
  CredentialsSignin: class extends Error {
    code = "";
  },
}));
vi.mock("@/server/web/db/client", () => {
  // An empty database: pages that get through the gate render from nothing (no rows, no counts).
  const EMPTY: Record<string, unknown> = {
    findMany: [],
    findFirst: null,
    findUnique: null,
    count: 0,
    groupBy: [],
    aggregate: { _sum: {}, _count: {}, _max: {}, _min: {} },
  };
  const table = () =>
    new Proxy(
      {},
      {
        get: (_t, op) => async () => {
          if (typeof op === "string" && op in EMPTY) return EMPTY[op];
          throw new Error(`route matrix: no database for ${String(op)}`);
        },
      },
    );
  return {
    getDb: () =>
      new Proxy(
        {},
        {
          get: (_t, name) =>
            name === "user"
              ? { findUnique: async () => rowFor(state.role) }
              : name === "revokedSession"
                ? { findUnique: async () => null }
                : table(),
        },
      ),
  };
});
vi.mock("@/server/web/env", () => ({
  getEnv: () => ({ origins: ["http://127.0.0.1:3000"], secureCookies: false, authSecret: "x".repeat(32) }),
}));
// The pages' gate, real, noting when it lets the caller through (what the page does next, e.g. a
// 404 for a VM that is not in the empty database, is not the gate's answer).
vi.mock("@/server/web/dal/get-session", async (importOriginal) => {
  const real = await importOriginal<typeof import("@/server/web/dal/get-session")>();
  const noting =
    <T>(gate: () => Promise<T>) =>
    async () => {
      const caller = await gate();
      state.passed = true;
      return caller;
    };
  return { ...real, requireUser: noting(real.requireUser), requireAdmin: noting(real.requireAdmin) };
});
vi.mock("next/headers", () => ({
  headers: async () => new Headers(state.origin === null ? {} : { origin: state.origin }),
  cookies: async () => ({ get: () => undefined, getAll: () => [], set: () => {}, delete: () => {} }),
}));
vi.mock("next/navigation", () => {
  const thrown = (digest: string) => Object.assign(new Error(digest), { digest });
  return {
    redirect: (to: string) => {
      throw thrown(`NEXT_REDIRECT;replace;${to};307;`);
    },
    notFound: () => {
      throw thrown("NEXT_HTTP_ERROR_FALLBACK;404");
    },
    unstable_rethrow: (e: unknown) => {
      const digest = (e as { digest?: string })?.digest ?? "";
      if (digest.startsWith("NEXT_")) throw e;
    },
  };
});
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));
// The real gate, with every body replaced by the marker and every schema by "anything".
vi.mock("@/server/web/auth/wrappers", async (importOriginal) => {
  const real = await importOriginal<typeof import("@/server/web/auth/wrappers")>();
  const anything = real.z.any();
  const marker = async () => REACHED;
  return {
    ...real,
    publicAction: (_s: unknown, _fn: unknown) => real.publicAction(anything, marker),
    memberAction: (p: Parameters<typeof real.memberAction>[0], _s: unknown, _fn: unknown) =>
      real.memberAction(p, anything, marker),
    adminAction: (p: Parameters<typeof real.adminAction>[0], _s: unknown, _fn: unknown) =>
      real.adminAction(p, anything, marker),
    withPublic: (_s: unknown, _fn: unknown) => real.withPublic(anything, marker),
    withBodyCredential: (_s: unknown, _fn: unknown) => real.withBodyCredential(anything, marker),
    withMember: (p: Parameters<typeof real.withMember>[0], _s: unknown, _fn: unknown) =>
      real.withMember(p, anything, marker),
    withAdmin: (p: Parameters<typeof real.withAdmin>[0], _s: unknown, _fn: unknown) =>
      real.withAdmin(p, anything, marker),
  };
});

/** What each role gets: anonymous, pending, member, admin, disabled. */
type Row = [string, string, string, string, string];
const R = REACHED;
const ROUTE_GATE: Row = ["401", "401", R, R, "401"];
const ADMIN_GATE: Row = ["401", "401", "403", R, "401"];
const OPEN: Row = [R, R, R, R, R];
const MEMBER_ACTION: Row = ["unauthorized", "unauthorized", R, R, "unauthorized"];
const ADMIN_ACTION: Row = ["unauthorized", "unauthorized", "forbidden", R, "unauthorized"];
const MEMBER_PAGE: Row = ["→/login", "→/pending", R, R, "→/login"];
const ADMIN_PAGE: Row = ["→/login", "→/pending", "404", R, "→/login"];
/** Pages for the signed-out: a session is sent on to its home. */
const SIGNED_OUT_PAGE: Row = [R, "→/pending", "→/", "→/", R];

/** THE expected table. A new page, handler, method or action fails until it is added here. */
const EXPECTED: Record<string, Row> = {
  // Route handlers (method path).
  "GET /api/health": OPEN,
  // A new host's join: the one-time token in the body is its credential (no session, no Origin).
  "POST /api/hosts/join": OPEN,
  "GET /api/me": ROUTE_GATE,
  "GET /api/events": ROUTE_GATE,
  "GET /api/vms": ROUTE_GATE,
  "GET /api/vms/[name]": ROUTE_GATE,
  "POST /api/vms/[name]/actions": ROUTE_GATE,
  "GET /api/vms/[name]/events": ROUTE_GATE,
  "GET /api/vms/[name]/boots/[n]": ROUTE_GATE,
  "GET /api/admin/accounts": ADMIN_GATE,
  "POST /api/admin/accounts": ADMIN_GATE,
  "GET /api/admin/vms": ADMIN_GATE,
  "POST /api/admin/vms": ADMIN_GATE,
  // Server actions (file#export).
  "accounts#changeAccountStatusAction": ADMIN_ACTION,
  "accounts#issueResetLinkAction": ADMIN_ACTION,
  "auth#signInAction": OPEN,
  "auth#signOutAction": OPEN,
  "auth#requestAccountAction": OPEN,
  "auth#changePasswordAction": MEMBER_ACTION,
  "auth#resetPasswordAction": OPEN,
  "console#openConsoleAction": MEMBER_ACTION,
  "delete-account#deleteAccountAction": ADMIN_ACTION,
  "guest-access#addSshKeyAction": MEMBER_ACTION,
  "guest-access#removeSshKeyAction": MEMBER_ACTION,
  "guest-access#setRootPasswordAction": MEMBER_ACTION,
  "snapshots#takeSnapshotAction": MEMBER_ACTION,
  "snapshots#restoreSnapshotAction": MEMBER_ACTION,
  "snapshots#deleteSnapshotAction": MEMBER_ACTION,
  "snapshots#approveSnapshotAction": ADMIN_ACTION,
  "snapshots#rejectSnapshotAction": ADMIN_ACTION,
  "snapshots#setSnapshotDefaultsAction": ADMIN_ACTION,
  "snapshots#setMemberSnapshotQuotaAction": ADMIN_ACTION,
  "host#setDiskReserveAction": ADMIN_ACTION,
  "host#resumeVmAction": ADMIN_ACTION,
  "host#setBootLogRetentionAction": ADMIN_ACTION,
  "network#setHostNetworkAction": ADMIN_ACTION,
  "network#addForwardAction": ADMIN_ACTION,
  "network#removeForwardAction": ADMIN_ACTION,
  "network#setVmNetworkAction": ADMIN_ACTION,
  "vms#vmPowerAction": MEMBER_ACTION,
  "vms#provisionVmAction": ADMIN_ACTION,
  "vms#destroyVmAction": ADMIN_ACTION,
  "vms#setVmMemoryAction": ADMIN_ACTION,
  "vms#setVmAutostartAction": ADMIN_ACTION,
  "vms#growVmStorageAction": ADMIN_ACTION,
  "vms#changeVmOwnerAction": ADMIN_ACTION,
  "vms#moveVmAction": ADMIN_ACTION,
  "vms#setVmQuotaDefaultsAction": ADMIN_ACTION,
  "vms#setMemberVmQuotaAction": ADMIN_ACTION,
  "vms#setBootOnceAction": MEMBER_ACTION,
  // Pages (URL path).
  "page /": MEMBER_PAGE,
  "page /vms/[name]": MEMBER_PAGE,
  "page /vms/[name]/console": MEMBER_PAGE,
  "page /vms/[name]/boots": MEMBER_PAGE,
  "page /vms/[name]/boots/[n]": MEMBER_PAGE,
  "page /account": MEMBER_PAGE,
  "page /admin/accounts": ADMIN_PAGE,
  "page /admin/audit": ADMIN_PAGE,
  "page /admin/host": ADMIN_PAGE,
  "page /admin/network": ADMIN_PAGE,
  "page /admin/snapshots": ADMIN_PAGE,
  "page /admin/vms": ADMIN_PAGE,
  "page /admin/vms/[name]": ADMIN_PAGE,
  "page /login": SIGNED_OUT_PAGE,
  "page /signup": OPEN,
  "page /signup/sent": OPEN,
  "page /account-status": ["→/login", "→/pending", "→/", "→/", "→/login"],
  "page /pending": ["→/login", R, "→/", "→/", "→/login"],
  "page /reset/[token]": OPEN,
};

const appDir = path.resolve(import.meta.dirname, "../../app");
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** app/ as Next routes it: route groups `(x)` leave the URL. */
function files(name: RegExp): { file: string; url: string }[] {
  const out: { file: string; url: string }[] = [];
  const walk = (dir: string, url: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p, /^\(.*\)$/.test(e.name) ? url : `${url}/${e.name}`);
      else if (name.test(e.name)) out.push({ file: p, url: url || "/" });
    }
  };
  walk(appDir, "");
  return out;
}

const params = { name: "some-vm", token: "a".repeat(43), n: "1" };
const asRole = (role: Role, origin: string | null = ORIGIN) => {
  state.role = role;
  state.origin = origin;
};

async function callRoute(handler: unknown, method: string, url: string): Promise<string> {
  const { NextRequest } = await import("next/server");
  const req = new NextRequest(`${ORIGIN}${url.replace(/\[(\w+)\]/g, "x")}`, {
    method,
    headers: state.origin === null ? {} : { origin: state.origin },
    body: method === "GET" || method === "HEAD" ? undefined : "{}",
  });
  const res = (await (handler as (r: unknown, c: unknown) => Promise<Response>)(req, {
    params: Promise.resolve(params),
  })) as Response;
  const body = (await res.json()) as { ok: boolean; data?: unknown };
  return body.ok && body.data === REACHED ? REACHED : String(res.status);
}

async function callAction(action: unknown): Promise<string> {
  const result = (await (
    action as (i: unknown) => Promise<{ ok: boolean; data?: unknown; error?: { code: string } }>
  )({})) as { ok: boolean; data?: unknown; error?: { code: string } };
  return result.ok && result.data === REACHED ? REACHED : (result.error?.code ?? "?");
}

async function callPage(Page: unknown): Promise<string> {
  state.passed = false;
  try {
    await (Page as (p: unknown) => Promise<unknown>)({
      params: Promise.resolve(params),
      searchParams: Promise.resolve({}),
    });
    return REACHED;
  } catch (e) {
    if (state.passed) return REACHED;
    const digest = (e as { digest?: string }).digest ?? "";
    if (digest.startsWith("NEXT_REDIRECT;")) return `→${digest.split(";")[2]}`;
    if (digest === "NEXT_HTTP_ERROR_FALLBACK;404") return "404";
    throw e; // neither the gate nor a page's own redirect: a broken page, which fails the test
  }
}

async function observe(): Promise<Record<string, Row>> {
  const seen: Record<string, Row> = {};
  const errorLog = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    for (const { file, url } of files(/^route\.tsx?$/)) {
      const mod = (await import(file)) as Record<string, unknown>;
      for (const method of METHODS.filter((m) => m in mod)) {
        const row: string[] = [];
        for (const role of ROLES) {
          asRole(role);
          row.push(await callRoute(mod[method], method, url));
        }
        seen[`${method} ${url}`] = row as Row;
      }
    }
    for (const e of readdirSync(path.join(appDir, "actions"))) {
      if (!/\.tsx?$/.test(e)) continue;
      const mod = (await import(path.join(appDir, "actions", e))) as Record<string, unknown>;
      for (const [name, action] of Object.entries(mod)) {
        const row: string[] = [];
        for (const role of ROLES) {
          asRole(role);
          row.push(await callAction(action));
        }
        seen[`${e.replace(/\.tsx?$/, "")}#${name}`] = row as Row;
      }
    }
    for (const { file, url } of files(/^page\.tsx$/)) {
      const mod = (await import(file)) as { default: unknown };
      const row: string[] = [];
      for (const role of ROLES) {
        asRole(role);
        row.push(await callPage(mod.default));
      }
      seen[`page ${url}`] = row as Row;
    }
  } finally {
    errorLog.mockRestore();
  }
  return seen;
}

describe("route × role authorization matrix (security.md check 1)", () => {
  it("check 1: every page, route handler and server action answers each role as the checked-in table says; anything not in the table fails", async () => {
    const seen = await observe();
    if (process.env.ROUTE_MATRIX_PRINT) console.log(JSON.stringify(seen, null, 1));
    expect(Object.keys(seen).length).toBeGreaterThan(40);
    const missing = Object.keys(seen).filter((k) => !(k in EXPECTED));
    expect(
      missing,
      "not in the table (deny by default: add each to EXPECTED in server/web/route-matrix.test.ts with what every role may do)",
    ).toEqual([]);
    const gone = Object.keys(EXPECTED).filter((k) => !(k in seen));
    expect(gone, "in the table but no longer in app/").toEqual([]);
    expect(seen).toEqual(EXPECTED);
  }, 60_000);

  it("check 1: every mutation refuses a foreign, null or missing Origin, even for the admin", async () => {
    const refused: string[] = [];
    for (const origin of ["https://evil.example", "null", null]) {
      for (const { file, url } of files(/^route\.tsx?$/)) {
        const mod = (await import(file)) as Record<string, unknown>;
        for (const method of METHODS.filter((m) => m in mod && m !== "GET" && m !== "HEAD")) {
          asRole("admin", origin);
          refused.push(`${method} ${url} ${origin}: ${await callRoute(mod[method], method, url)}`);
        }
      }
      for (const e of readdirSync(path.join(appDir, "actions"))) {
        const mod = (await import(path.join(appDir, "actions", e))) as Record<string, unknown>;
        for (const [name, action] of Object.entries(mod)) {
          asRole("admin", origin);
          refused.push(`${e}#${name} ${origin}: ${await callAction(action)}`);
        }
      }
    }
    expect(refused.length).toBeGreaterThan(60);
    // The one route without a session: a new host's join carries its one-time token in the body
    // and no Origin (the agent is no browser); it reads no cookie, so a foreign Origin gains nothing.
    const bodyCredential = /^POST \/api\/hosts\/join /;
    expect(refused.filter((r) => !/: (403|bad-origin)$/.test(r) && !bodyCredential.test(r))).toEqual([]);
  });

  it("every route handler and action file is built by a wrapper (the source says so too)", () => {
    for (const { file } of files(/^route\.tsx?$/))
      expect(readFileSync(file, "utf8"), file).toMatch(/with(Public|BodyCredential|Member|Admin)\(/);
  });
});
