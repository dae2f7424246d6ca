import { type ChildProcess, execFileSync, type StdioOptions, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { type Browser, expect, type Page } from "@playwright/test";
import { asWebUser } from "./agent-stack";
import { AGENT_SOCKET, DATABASE_URL, RELEASE_DIR, serverEnv } from "./env";

export async function signIn(page: Page, identifier: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username or email").fill(identifier);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/**
 * Runs the host CLI of the run's release, as the web user (the database is that user's), against
 * the e2e database (and the e2e agent, for provision).
 */
export function zaphod(args: string[], stdin?: string, env: Record<string, string> = {}): string {
  const [cmd, ...argv] = asWebUser([process.execPath, path.join(RELEASE_DIR, "dist/cli.mjs"), ...args]);
  return execFileSync(cmd as string, argv, {
    input: stdin,
    encoding: "utf8",
    cwd: RELEASE_DIR,
    env: { ...process.env, DATABASE_URL, ZAPHOD_AGENT_SOCKET: AGENT_SOCKET, ...env },
  });
}

/**
 * Another production web tier (dist/web.mjs of the run's release) as the web user, like the one
 * e2e/serve.sh starts; `env` overrides the run's server environment (PORT, ZAPHOD_ORIGINS, …).
 */
export function spawnWebTier(env: Record<string, string>, stdio: StdioOptions): ChildProcess {
  const [cmd, ...argv] = asWebUser([process.execPath, "dist/web.mjs"]);
  return spawn(cmd as string, argv, {
    cwd: RELEASE_DIR,
    env: { ...process.env, ...serverEnv, NODE_ENV: "production", ...env },
    stdio,
  });
}

export function statusOf(username: string): string | undefined {
  const line = zaphod(["list-users"])
    .split("\n")
    .find((l) => l.split(/\s+/)[0] === username);
  return line?.split(/\s+/)[2];
}

let seq = 0;
/** A username no other test uses. */
export function uniqueName(prefix: string): string {
  seq += 1;
  return `${prefix}-${Date.now().toString(36)}${seq}`;
}

export function createUser(username: string, password: string, opts: { pending?: boolean } = {}) {
  zaphod(
    [
      "create-user",
      username,
      "--email",
      `${username}@example.org`,
      "--name",
      `Test ${username}`,
      ...(opts.pending ? ["--pending"] : []),
    ],
    `${password}\n`,
  );
}

export async function newSignedInPage(browser: Browser, username: string, password: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, username, password);
  await expect(page.getByTestId("signed-in-user")).toContainText(username);
  return { context, page };
}

/** Server action ids from the production build, by exported name. */
export function serverActionId(exportedName: string): string {
  const manifest = JSON.parse(readFileSync(".next/server/server-reference-manifest.json", "utf8")) as {
    node: Record<string, { exportedName: string }>;
  };
  const id = Object.entries(manifest.node).find(([, v]) => v.exportedName === exportedName)?.[0];
  if (!id) throw new Error(`no server action ${exportedName} in the build`);
  return id;
}

/** The form's own message (Next also renders an empty role=alert route announcer). */
export function formAlert(page: Page) {
  return page.locator("form [role=alert]");
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A fresh ed25519 key pair at `<dir>/id` (and `id.pub`), no passphrase, as a member's laptop has. */
export function newSshKey(dir: string, comment: string): string {
  const file = path.join(dir, "id");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file]);
  return file;
}
