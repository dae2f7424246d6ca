/**
 * Several hosts through the browser (issue 13 points 2–4). Real processes: the run's web tier and
 * agent (the panel's own host, "local"), and a second agent of the run's release (root in CI) with its own
 * data directory, host-user prefix, socket group, cgroups and namespaces, listening with mutual TLS
 * on 127.0.0.2. It is added with `zaphod host add`, joins with `agent join` through the panel's real
 * /api/hosts/join, and gets the run's image with `zaphod image publish`.
 *
 * - the host page lists it, up, with its figures;
 * - the admin provisions a VM on it from the panel's form; the member starts it, types into its
 *   console and takes a snapshot in the browser;
 * - the admin moves the VM back to the panel's host cold from its manage page, its file and its
 *   snapshot with it;
 * - killing the second agent shows the host unreachable and its VM unknown, while a VM on the
 *   panel's host keeps working.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { type BrowserContext, expect, type Page, test } from "@playwright/test";
import { removeConfinementOf } from "../../server/agent/confine/vm-confinement";
import { baseEnv, run } from "../../server/agent/exec";
import { killVmsOf } from "../../server/agent/testing/stop-vms";
import { BASE_URL, E2E_IMAGE, IS_ROOT, RELEASE_DIR, serverEnv, storageState, TEST_STATE_DIR } from "../env";
import { uniqueName, zaphod } from "../helpers";
import { inConsole, waitTask } from "../vm-console";

test.describe.configure({ mode: "serial" });

const HOST = "e2e-second";
const tag = randomBytes(2).toString("hex");
const dataDir = path.join(TEST_STATE_DIR, "e2e-agent-2");
const second = {
  ZAPHOD_DATA_DIR: dataDir,
  ZAPHOD_AGENT_SOCKET: path.join(dataDir, "run/agent.sock"),
  ZAPHOD_SOCKET_GROUP: `zs${tag}`,
  ZAPHOD_HOST_USER_PREFIX: `zs${tag}-`,
};
const far = uniqueName("far");
const idle = uniqueName("idle");
let port = 0;
let agent: ChildProcess | null = null;
let admin: { context: BrowserContext; page: Page };
let member: { context: BrowserContext; page: Page };

const cli = (args: string[]) => zaphod(args, undefined, { AUTH_SECRET: serverEnv.AUTH_SECRET });

function freePortOn(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port: p } = server.address() as { port: number };
      server.close(() => resolve(p));
    });
  });
}

async function startSecondAgent(): Promise<void> {
  mkdirSync(".data/e2e", { recursive: true });
  const log = openSync(".data/e2e/agent-2.log", "a");
  agent = spawn(process.execPath, [path.join(RELEASE_DIR, "dist/agent.mjs")], {
    env: baseEnv({ ...second, ZAPHOD_AGENT_LISTEN: `127.0.0.2:${port}` }) as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const until = Date.now() + 60_000;
  for (;;) {
    const text = await readFile(".data/e2e/agent-2.log", "utf8").catch(() => "");
    if (text.includes(`listening on 127.0.0.2:${port}`)) return;
    if (agent.exitCode !== null)
      throw new Error(`the second agent exited ${agent.exitCode}:\n${text.slice(-2000)}`);
    if (Date.now() > until) throw new Error("the second agent did not listen within 60 s");
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopSecondAgent(): Promise<void> {
  const child = agent;
  agent = null;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** Every VM process of the second agent (by pid), its confinement, host users, group and data. */
async function cleanupSecondHost(): Promise<void> {
  await stopSecondAgent();
  const names = await killVmsOf(dataDir);
  await new Promise((r) => setTimeout(r, 300));
  // Root made cgroups, namespaces, host users and a group for it; unprivileged there are none.
  if (!IS_ROOT) return void (await rm(dataDir, { recursive: true, force: true }));
  await removeConfinementOf(
    dataDir,
    names.filter((n) => !n.startsWith(".")),
  );
  for (const line of (await readFile("/etc/passwd", "utf8")).split("\n")) {
    const user = line.split(":")[0] ?? "";
    if (user.startsWith(second.ZAPHOD_HOST_USER_PREFIX))
      await run(["userdel", "--", user], { allowFailure: true });
  }
  await run(["groupdel", "--", second.ZAPHOD_SOCKET_GROUP], { allowFailure: true });
  await rm(dataDir, { recursive: true, force: true });
}

async function signedIn(browser: import("@playwright/test").Browser, role: "admin" | "member") {
  const context = await browser.newContext({ baseURL: BASE_URL, storageState: storageState[role] });
  return { context, page: await context.newPage() };
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(300_000);
  await cleanupSecondHost();
  mkdirSync(dataDir, { recursive: true, mode: 0o755 });
  port = await freePortOn("127.0.0.2");
  const added = cli(["host", "add", HOST, `127.0.0.2:${port}`, "--panel", BASE_URL]);
  const token = /join token \(one use, until [^)]+\): (\S+)/.exec(added)?.[1];
  const fingerprint = /panel CA fingerprint: (SHA256:\S+)/.exec(added)?.[1];
  expect(token, added).toBeTruthy();
  expect(fingerprint, added).toBeTruthy();
  expect(added).toContain(`agent.mjs join ${BASE_URL} ${token} ${fingerprint}`);
  // On the new host, as root: the command `host add` printed.
  const joined = spawnSync(
    process.execPath,
    [path.join(RELEASE_DIR, "dist/agent.mjs"), "join", BASE_URL, token ?? "", fingerprint ?? ""],
    {
      env: baseEnv(second) as unknown as NodeJS.ProcessEnv,
      encoding: "utf8",
    },
  );
  expect(joined.status, joined.stderr).toBe(0);
  expect(joined.stderr).toContain(`as host ${HOST}`);
  await startSecondAgent();
  expect(cli(["image", "publish", E2E_IMAGE, HOST])).toContain(`published ${E2E_IMAGE} on ${HOST}`);
  admin = await signedIn(browser, "admin");
  member = await signedIn(browser, "member");
});

test.afterAll(async () => {
  await admin?.context.close();
  await member?.context.close();
  await cleanupSecondHost();
});

test("the host page lists the second host, up, with its agent and figures", async () => {
  const { page } = admin;
  const row = page.getByTestId(`host-row-${HOST}`);
  // Up at once (the publish reached it); its figures with the next health check (every 10 s).
  await expect
    .poll(
      async () => {
        await page.goto("/admin/host");
        return row.textContent();
      },
      { timeout: 40_000, intervals: [2_000] },
    )
    .toMatch(/up0\.1\.0\d+ MiB/);
  await expect(page.getByTestId(`host-state-${HOST}`)).toHaveText("up");
  await expect(row).toContainText(`127.0.0.2:${port}`);
  await page.screenshot({ path: ".data/e2e/two-hosts-up.png", fullPage: true });
  await row.getByRole("link", { name: HOST }).click();
  await expect(page.getByRole("heading", { name: `Host ${HOST}` })).toBeVisible();
  // As root (CI) the second agent confines its VMs as the first does; unprivileged it runs them as you.
  await expect(page.getByTestId("vm-confinement")).toHaveText(IS_ROOT ? "sandbox, netns, cgroup" : "none");
});

test("a VM provisioned on the second host from the panel: started, its console and a snapshot in the browser", async () => {
  test.setTimeout(300_000);
  const { page } = admin;
  await page.goto("/admin/vms");
  const owner = page.getByLabel("Owner");
  await owner.selectOption({
    label: (await owner.locator("option", { hasText: "member — " }).first().textContent()) ?? "",
  });
  await page.getByLabel("VM name").fill(far);
  await page.getByLabel("Image").selectOption(E2E_IMAGE);
  await page.getByLabel("Host", { exact: true }).selectOption(HOST);
  await page.getByLabel("Memory (MiB)").fill("64");
  await page.getByLabel("Storage (GiB)").fill("1");
  await page.getByLabel("Swap (MiB)").fill("0");
  await page.getByRole("button", { name: "Provision VM" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Provisioning ${far}` })).toBeVisible({
    timeout: 30_000,
  });
  await expect
    .poll(async () => (await readdir(path.join(dataDir, "vms")).catch(() => [] as string[])).includes(far), {
      timeout: 120_000,
    })
    .toBe(true);

  const m = member.page;
  await m.goto(`/vms/${far}`);
  // "Start it now" (the form's default): the provisioning task starts it on its host.
  await expect(m.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
  await inConsole(m, far, "echo far-$((6*7)) > /root/where; cat /root/where; sync", /far-42/);

  await m.goto(`/vms/${far}`);
  const section = m.getByTestId("snapshots");
  await section.getByLabel("Label (optional)").fill("on the second host");
  await section.getByRole("button", { name: "Take snapshot" }).click();
  const item = m.getByTestId("snapshot").filter({ hasText: "on the second host" });
  await expect(item).toHaveAttribute("data-status", "ready", { timeout: 120_000 });
  // It is on the second host's disk, not the panel's.
  expect(await readdir(path.join(dataDir, "snapshots", far))).toHaveLength(1);
});

test("a cold move back to the panel's host carries the VM's disks and its snapshot", async () => {
  test.setTimeout(300_000);
  const m = member.page;
  await m.goto(`/vms/${far}`);
  await m.getByRole("button", { name: "Shut down" }).click();
  await waitTask(m, "shutdown", 120_000);
  await expect(m.getByTestId("vm-state")).toHaveText("stopped", { timeout: 60_000 });

  // The admin moves it from its manage page.
  const { page } = admin;
  await page.goto(`/admin/vms/${far}`);
  await expect(page.getByTestId("vm-host")).toHaveText(HOST);
  const card = page
    .locator("section")
    .filter({ has: page.getByRole("heading", { name: "Host", exact: true }) });
  await card.getByLabel("Move to").selectOption("local");
  await card.getByRole("button", { name: "Move" }).click();
  await expect(card.getByText(`${far} moved to local.`)).toBeVisible({ timeout: 180_000 });
  await page.reload();
  await expect(page.getByTestId("vm-host")).toHaveText("local");
  expect(await readdir(path.join(dataDir, "vms")).catch(() => [] as string[])).not.toContain(far);
  expect(await readdir(path.join(dataDir, "snapshots")).catch(() => [] as string[])).not.toContain(far);

  // The member's snapshot came with it.
  await m.goto(`/vms/${far}`);
  await expect(m.getByTestId("snapshot").filter({ hasText: "on the second host" })).toBeVisible();
  await m.getByRole("button", { name: "Start" }).click();
  await waitTask(m, "start");
  await inConsole(m, far, "cat /root/where", /cat \/root\/where\s*\n\s*far-42/);
});

test("killing the second agent shows its host unreachable and its VM unknown; the panel's own host keeps working", async () => {
  test.setTimeout(240_000);
  cli([
    "provision",
    "member",
    idle,
    "--host",
    HOST,
    "--image",
    E2E_IMAGE,
    "--memory",
    "64",
    "--storage",
    "1",
    "--swap",
    "0",
    "--no-start",
  ]);
  await stopSecondAgent();
  const { page } = admin;
  await expect
    .poll(
      async () => {
        await page.goto("/admin/host");
        return page.getByTestId(`host-state-${HOST}`).textContent();
      },
      { timeout: 40_000, intervals: [2_000] },
    )
    .toBe("unreachable");
  await page.goto(`/admin/host?host=${HOST}`);
  await expect(page.getByTestId("host-unreachable")).toContainText(
    `The agent of host ${HOST} is not reachable`,
  );
  await page.goto("/admin/host");
  await page.screenshot({ path: ".data/e2e/two-hosts-unreachable.png", fullPage: true });
  const m = member.page;
  await m.goto(`/vms/${idle}`);
  await expect(m.getByTestId("vm-state")).toHaveText("unknown", { timeout: 30_000 });
  // The VM that moved back runs on the panel's host, and answers.
  await m.goto(`/vms/${far}`);
  await expect(m.getByTestId("vm-state")).toHaveText("running");
  await m.getByRole("button", { name: "Reboot" }).click();
  await waitTask(m, "reboot", 180_000);
  await expect(m.getByTestId("vm-state")).toHaveText("running");
});
