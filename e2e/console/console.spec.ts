/**
 * The browser console against the real stack (production server, the run's real agent, a real UML
 * VM from the busybox image), in Chromium, reading the terminal through xterm's screen-reader tree:
 * typing and reading; the websocket refusals (no ticket, reused ticket, another VM's ticket, foreign
 * Origin) with no agent connection; Ctrl-C through a `yes` flood; an admin opening the member's
 * console (notice in the console, entry in the VM's history); the rescue of a boot stopped at the
 * maintenance prompt by a broken /etc/fstab; keyboard users leaving the terminal (Ctrl+]) and
 * reaching the toolbar; a stopped VM's console saying so and starting it; suspension closing the
 * open console with no "Reconnect now".
 *
 * Reconnect after a web-tier restart with the shell's state intact is tested where the web tier can
 * be restarted: server/web/console/real-agent.itest.ts (real agent, UML VM).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { type APIRequestContext, type BrowserContext, expect, type Page, test } from "@playwright/test";
import { WebSocket } from "ws";
import { BASE_URL, storageState } from "../env";
import { createUser, newSignedInPage, serverActionId, uniqueName, zaphod } from "../helpers";

test.describe.configure({ mode: "serial" });

const username = uniqueName("con");
const password = "console-password-1";
const vm = username;
let member: { context: BrowserContext; page: Page };

// innerText, not textContent: the screen's rows are separate elements and must stay separate lines.
// biome-ignore lint/performance/useDomNodeTextContent: Playwright Locator, layout-aware on purpose
const screenOf = (page: Page) => page.locator(".xterm-accessibility-tree").innerText();
const statusOf = (page: Page) => page.getByRole("toolbar", { name: "Console controls" }).getByRole("status");
/** A root prompt of the busybox image (`<host>:<dir># `) on the last line that has text. */
const atPrompt = (text: string) =>
  /#\s*$/.test(
    text
      .split("\n")
      .filter((l) => l.trim())
      .at(-1) ?? "",
  );

async function typeLine(page: Page, text: string) {
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

async function openConsole(page: Page) {
  await page.goto(`/vms/${vm}/console`);
  await expect(statusOf(page)).toHaveText("Live", { timeout: 30_000 });
}

/** Logs in at the console if it shows a login prompt; returns at a root prompt. */
async function loginAtConsole(page: Page) {
  await typeLine(page, "");
  await expect
    .poll(async () => /login:\s*$|#\s*$/.test((await screenOf(page)).trimEnd()), { timeout: 30_000 })
    .toBe(true);
  if (!atPrompt(await screenOf(page))) await typeLine(page, "root");
  await expect.poll(async () => atPrompt(await screenOf(page)), { timeout: 30_000 }).toBe(true);
}

/** "console attach vm=<name>" lines in the run's agent log: the agent connections of this VM. */
function agentAttaches(): number {
  // Where e2e/agent-stack.ts writes the run's agent log.
  const log = readFileSync(path.resolve(".data/e2e/agent.log"), "utf8");
  return log.split("\n").filter((l) => l.endsWith(`console attach vm=${vm}`)).length;
}

/** A ticket from the real server action, as the console page gets it (the caller's cookies). */
async function issueTicket(request: APIRequestContext, vmName: string): Promise<string> {
  // The action's input names the VM; the page it is posted to does not matter.
  const res = await request.post(`/vms/${vm}/console`, {
    headers: {
      "Next-Action": serverActionId("openConsoleAction"),
      Origin: BASE_URL,
      "Content-Type": "text/plain;charset=UTF-8",
      Accept: "text/x-component",
    },
    data: JSON.stringify([{ vmName }]),
  });
  const token = /"token":"([\w-]{43})"/.exec(await res.text())?.[1];
  if (!token) throw new Error(`no ticket in the action's answer (${res.status()})`);
  return token;
}

/** One raw upgrade from Node: the HTTP status of the refusal, or 101. */
function upgrade(options: { vm?: string; protocols?: string[]; origin?: string }): Promise<number> {
  const url = `${BASE_URL.replace("http", "ws")}/ws/console?vm=${options.vm ?? vm}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options.protocols ?? [], { origin: options.origin ?? BASE_URL });
    ws.on("error", () => {});
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
  });
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  createUser(username, password);
  zaphod(["provision", username, vm, "--memory", "64", "--storage", "1", "--swap", "0"]);
  member = await newSignedInPage(browser, username, password);
});

test.afterAll(async () => {
  await member?.context.close();
  // The VM is stopped and destroyed with the run's agent by the global teardown.
});

test("the member types and reads through the browser console; history first, then live", async () => {
  const { page } = member;
  await openConsole(page);
  // The boot's history (kernel messages, the login prompt) is replayed before live output.
  await expect.poll(() => screenOf(page), { timeout: 20_000 }).toMatch(/Linux version|login:/);
  await loginAtConsole(page);
  await typeLine(page, "echo hello-$((6*7)); stty size");
  await expect.poll(() => screenOf(page), { timeout: 15_000 }).toContain("hello-42");
  // The browser's size reached the guest: wider than xterm's default 80 columns at 1280 px.
  const size = /^(\d+) (\d+)\s*$/m.exec(await screenOf(page));
  expect(Number(size?.[2])).toBeGreaterThan(80);
  const watching = page.getByRole("list", { name: "People watching this console" });
  await expect(watching).toHaveText(username);
});

test("check 15: refuses upgrades without a valid ticket, before any agent connection", async () => {
  const before = agentAttaches();
  const ticket = await issueTicket(member.page.request, vm);
  const protocols = (t: string) => ["zaphod.console", `ticket.${t}`];
  // Foreign Origin first: refused, and the ticket is not burnt by it.
  expect(await upgrade({ protocols: protocols(ticket), origin: "https://evil.example" })).toBe(403);
  // No ticket; the ticket in the URL (never read from there).
  expect(await upgrade({})).toBe(401);
  expect(await upgrade({ vm: `${vm}&ticket=${ticket}` })).toBe(401);
  // Another VM's ticket: this VM's ticket presented for another VM (burnt by the attempt).
  expect(await upgrade({ vm: "someone-else", protocols: protocols(ticket) })).toBe(403);
  // Reused: the same ticket again.
  expect(await upgrade({ protocols: protocols(ticket) })).toBe(401);
  // Nothing of that reached the agent.
  await new Promise((r) => setTimeout(r, 500));
  expect(agentAttaches()).toBe(before);
  // A fresh ticket works, and the agent sees exactly one more connection.
  expect(await upgrade({ protocols: protocols(await issueTicket(member.page.request, vm)) })).toBe(101);
  await expect.poll(agentAttaches).toBe(before + 1);
  // Another member gets no ticket for this VM at all (answered like a missing VM).
  await expect(issueTicket(member.page.request, "no-such-vm")).rejects.toThrow(/no ticket/);
});

test("Ctrl-C gets through a `yes` flood and the prompt returns", async () => {
  const { page } = member;
  await typeLine(page, "yes flood-line");
  await expect.poll(() => screenOf(page), { timeout: 10_000 }).toContain("flood-line\nflood-line");
  await page.waitForTimeout(2_000);
  const t0 = Date.now();
  await page.keyboard.press("Control+C");
  // After ^C the agent skips the flood's backlog (eager skip-ahead) and this browser only has to
  // parse what is in flight (the 64 KiB window) plus a fresh screen: 0.76 s measured in headless
  // Chromium on the shared 2-vCPU box (1.9–8 s before, with a 256 KiB window and the 1 MiB skip
  // threshold). Logged, not gated: speed targets live in bench/ (B3, ratios to peers in one run).
  await expect
    .poll(async () => atPrompt(await screenOf(page)), { timeout: 30_000, intervals: [50] })
    .toBe(true);
  const ms = Date.now() - t0;
  console.log(`Ctrl-C under a yes flood, through Chromium: prompt after ${ms} ms`);
  await typeLine(page, "echo still-$((2+3))");
  await expect.poll(() => screenOf(page), { timeout: 10_000 }).toContain("still-5");
});

test("an admin opening the member's console shows in the console and in the VM's history", async ({
  browser,
}) => {
  const adminContext = await browser.newContext({ storageState: storageState.admin });
  try {
    const admin = await adminContext.newPage();
    await openConsole(admin);
    await expect(admin.getByText(`owned by ${username}`)).toBeVisible();
    // The member's open console: a notice, and the admin among the viewers.
    await expect(
      member.page.getByRole("alert").filter({ hasText: "Admin admin opened this console." }),
    ).toBeVisible();
    await expect(member.page.getByRole("list", { name: "People watching this console" })).toContainText(
      "admin (admin)",
    );
    // Both see the same guest: what the admin types shows in the member's console.
    await typeLine(admin, "echo admin-was-$((40+2))");
    await expect.poll(() => screenOf(member.page), { timeout: 10_000 }).toContain("admin-was-42");
    await admin.close();
    // The member's VM page: the history names the admin.
    const vmPage = await member.context.newPage();
    await vmPage.goto(`/vms/${vm}`);
    const entry = vmPage
      .getByTestId("vm-history")
      .getByRole("listitem")
      .filter({ hasText: "Console opened" });
    await expect(entry.first()).toContainText("Console opened by admin");
    await vmPage.close();
  } finally {
    await adminContext.close();
  }
});

test("rescue: a boot stopped at the maintenance prompt is fixed from the browser console", async () => {
  test.setTimeout(240_000);
  const { page } = member;
  // Break /etc/fstab and reboot from the console (Ctrl-Alt-Del, confirmed).
  await typeLine(page, "echo '/dev/ubdz /mnt ext4 defaults 0 2' >> /etc/fstab; sync; echo broken-$((3*3))");
  await expect.poll(() => screenOf(page), { timeout: 15_000 }).toContain("broken-9");
  await page.getByRole("button", { name: "Ctrl-Alt-Del…" }).click();
  await page.getByRole("button", { name: "Send Ctrl-Alt-Del" }).click();

  // The dashboard says so, and leads to the console.
  const dashboard = await member.context.newPage();
  await dashboard.goto("/");
  const card = dashboard.getByRole("listitem", { name: `VM ${vm}` });
  await expect(card.getByTestId("vm-state")).toHaveText("waiting at console", { timeout: 150_000 });
  await card.getByRole("link", { name: "Go to the console" }).click();
  await expect(dashboard).toHaveURL(new RegExp(`/vms/${vm}/console$`));
  await expect(statusOf(dashboard)).toHaveText("Live", { timeout: 30_000 });
  await expect
    .poll(() => screenOf(dashboard), { timeout: 20_000 })
    .toContain("mount failed: check /etc/fstab");

  // Fix the file at the maintenance shell and reboot; the VM comes up to its login prompt.
  await typeLine(dashboard, "");
  await typeLine(dashboard, "sed -i '/ubdz/d' /etc/fstab && sync && echo fixed-$((2*4))");
  await expect.poll(() => screenOf(dashboard), { timeout: 15_000 }).toContain("fixed-8");
  await typeLine(dashboard, "reboot -f");
  await dashboard.goto("/");
  await expect(card.getByTestId("vm-state")).toHaveText("running", { timeout: 150_000 });
  await expect(card.getByRole("link", { name: "Go to the console" })).toHaveCount(0);
  await dashboard.close();
  await openConsole(page);
  await loginAtConsole(page);
  await typeLine(page, "grep -c ubdz /etc/fstab; echo checked");
  await expect.poll(() => screenOf(page), { timeout: 15_000 }).toMatch(/^0\s*$/m);
});

test("keyboard users leave the terminal with the key the page shows, and reach the toolbar", async () => {
  const { page } = member;
  await openConsole(page);
  const hint = page.getByRole("toolbar", { name: "Console controls" }).getByText("leaves the terminal");
  await expect(hint).toBeVisible();
  await expect(hint).toContainText("Ctrl+]");
  const terminalInput = page.locator(".xterm-helper-textarea");
  await terminalInput.focus();
  await expect(terminalInput).toHaveAttribute("aria-describedby", "console-leave-hint");
  // Tab belongs to the guest's shell: focus stays in the terminal however often it is pressed.
  for (let i = 0; i < 16; i++) await page.keyboard.press("Tab");
  await expect(terminalInput).toBeFocused();
  // The leave key: focus moves to the toolbar, from where Tab walks its controls.
  await page.keyboard.press("Control+BracketRight");
  await expect(page.getByRole("link", { name: `← ${vm}` })).toBeFocused();
  await page.keyboard.press("Tab");
  await expect(page.getByRole("searchbox", { name: "Search console output" })).toBeFocused();
  // Back in the terminal, typing reaches the guest again.
  await loginAtConsole(page);
  await typeLine(page, "echo back-$((5*5))");
  await expect.poll(() => screenOf(page), { timeout: 15_000 }).toContain("back-25");
});

test("a stopped VM's console says stopped and offers Start", async () => {
  test.setTimeout(180_000);
  const { page } = member;
  await page.goto(`/vms/${vm}`);
  await page.getByRole("button", { name: "Shut down" }).click();
  await expect(page.getByTestId("vm-state")).toHaveText("stopped", { timeout: 120_000 });
  await page.goto(`/vms/${vm}/console`);
  await expect(statusOf(page)).toHaveText("Stopped. Shown: the output of its last boot.", {
    timeout: 30_000,
  });
  await expect(statusOf(page)).not.toHaveText("Live");
  await page
    .getByRole("toolbar", { name: "Console controls" })
    .getByRole("button", { name: "Start" })
    .click();
  // The VM boots; the console follows the new boot from its first line.
  await expect(statusOf(page)).toHaveText("Live", { timeout: 60_000 });
  await expect(page.getByRole("button", { name: "Start" })).toHaveCount(0);
  await expect.poll(() => screenOf(page), { timeout: 120_000 }).toMatch(/login:/);
  await loginAtConsole(page);
});

test("check 7: suspending the member closes their open console within seconds", async ({ browser }) => {
  const { page } = member;
  await expect(statusOf(page)).toHaveText("Live");
  const adminContext = await browser.newContext({ storageState: storageState.admin });
  try {
    const admin = await adminContext.newPage();
    await admin.goto("/admin/accounts");
    const t0 = Date.now();
    const row = admin.getByRole("listitem", { name: username });
    await row.getByRole("button", { name: "Suspend" }).click();
    // Suspend asks first (with an optional reason).
    await row.getByRole("button", { name: "Suspend account" }).click();
    await expect(statusOf(page)).toHaveText("Closed. Access to this console was revoked.", {
      timeout: 6_000,
    });
    console.log(`console closed ${Date.now() - t0} ms after the Suspend click`);
    // A new ticket would be refused: nothing offers to reconnect.
    await expect(page.getByRole("button", { name: "Reconnect now" })).toHaveCount(0);
  } finally {
    await adminContext.close();
  }
});
