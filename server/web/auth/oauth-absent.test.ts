/**
 * security.md check 10 (OAuth correctness), nearest equivalent: zaphod has no OAuth sign-in (only
 * Auth.js's Credentials provider), so there is no `state`, PKCE verifier, nonce or account linking
 * to get wrong. What the check guards can still be checked: that no OAuth or email provider is
 * configured, that Auth.js's own routes (where a `callbackUrl` is read) are not mounted, and that
 * sign-in sends the browser only to fixed paths of the panel, whatever the request carries. The
 * real checks land with OAuth itself; the advisory table covers Auth.js's OAuth advisories.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";

const state = vi.hoisted(() => ({
  config: null as null | (() => Record<string, unknown>),
  signIn: vi.fn(async (..._args: unknown[]) => undefined),
  redirects: [] as string[],
}));

vi.mock("next-auth", () => ({
  default: (config: () => Record<string, unknown>) => {
    state.config = config;
    return { auth: async () => null, signIn: state.signIn, signOut: async () => undefined, handlers: {} };
  },
  CredentialsSignin: class extends Error {
    code = "";
  },
}));
vi.mock("next/headers", () => ({
  headers: async () => new Headers({ origin: "http://127.0.0.1:3000" }),
  cookies: async () => ({ get: () => undefined, set: () => undefined, delete: () => undefined }),
}));
vi.mock("next/navigation", () => ({
  redirect: (to: string) => {
    state.redirects.push(to);
    throw Object.assign(new Error("NEXT_REDIRECT"), { digest: `NEXT_REDIRECT;replace;${to};307;` });
  },
  notFound: () => {
    throw new Error("NEXT_NOT_FOUND");
  },
  unstable_rethrow: (e: unknown) => {
    if ((e as { digest?: string })?.digest?.startsWith("NEXT_REDIRECT")) throw e;
  },
}));
vi.mock("../dal/get-session", () => ({ getSession: async () => null, getSessionToken: async () => null }));
vi.mock("../env", () => ({
  getEnv: () => ({ origins: ["http://127.0.0.1:3000"], authSecret: "x".repeat(32), secureCookies: false }),
}));

const repo = path.resolve(import.meta.dirname, "../../..");

describe("no OAuth to get wrong (check 10, nearest equivalent)", () => {
  it("check 10: Auth.js is configured with the Credentials provider only: no OAuth, OIDC or email sign-in", async () => {
    await import("./auth");
    const config = state.config?.();
    const providers = (config?.providers ?? []) as { id?: string; type?: string }[];
    expect(providers.map((p) => [p.id, p.type])).toEqual([["credentials", "credentials"]]);
  });

  it("check 10: Auth.js's own routes (signin, callback, where callbackUrl is read) are not mounted", () => {
    const routes: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/^route\.(ts|tsx|js)$/.test(e.name)) routes.push(path.relative(repo, p));
      }
    };
    walk(path.join(repo, "app"));
    expect(routes.length).toBeGreaterThan(0);
    expect(routes.filter((r) => r.includes("/auth/") || r.includes("nextauth"))).toEqual([]);
  });

  it("check 10: sign-in goes to / whatever callbackUrl or redirectTo the request carries", async () => {
    const { signInAction } = await import("@/app/actions/auth");
    for (const evil of [
      "https://evil.example/",
      "//evil.example",
      "/\\evil.example",
      "javascript:alert(1)",
    ]) {
      state.redirects.length = 0;
      state.signIn.mockClear();
      await expect(
        signInAction({
          identifier: "max",
          password: "pw",
          callbackUrl: evil,
          redirectTo: evil,
        } as unknown as { identifier: string; password: string }),
      ).rejects.toThrow("NEXT_REDIRECT");
      expect(state.redirects).toEqual(["/"]);
      // Auth.js is asked to sign in without a redirect of its own and without the request's URL.
      expect(state.signIn).toHaveBeenCalledWith("credentials", {
        identifier: "max",
        password: "pw",
        redirect: false,
      });
    }
  });
});
