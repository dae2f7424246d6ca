import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { type Browser, expect, type Page } from "@playwright/test";
import { AGENT_SOCKET, DATABASE_URL } from "./env";

export async function signIn(page: Page, identifier: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("Username or email").fill(identifier);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Runs the host CLI against the e2e database (and the e2e agent, for provision). */
export function zaphod(args: string[], stdin?: string): string {
  return execFileSync("bin/zaphod", args, {
    input: stdin,
    encoding: "utf8",
    env: { ...process.env, DATABASE_URL, ZAPHOD_AGENT_SOCKET: AGENT_SOCKET },
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
