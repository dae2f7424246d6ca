/**
 * Issue 12 point 8, end to end as a member would do it: the member adds their SSH key in
 * Chromium, gets a VM, the admin forwards a port to its SSH on /admin/network, the member's VM
 * page shows `ssh -p PORT root@127.0.0.1` and the host-key fingerprints, and a real OpenSSH
 * client logs in with `StrictHostKeyChecking=yes` against the key whose fingerprint the page
 * shows. The forward listens on 127.0.0.1 and the agent relays it into the e2e run's own network
 * namespace. Without root the run's agent has no network: the VM page must say so instead.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { E2E_IMAGE, IS_ROOT, storageState } from "../env";
import { createUser, freePort, newSignedInPage, newSshKey, uniqueName, zaphod } from "../helpers";

test.describe.configure({ mode: "serial" });

const member = uniqueName("sshm");
const password = "ssh-login-password-1";
const vm = member;
let dir = "";
let port = 0;

test.beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-e2e-ssh-"));
  newSshKey(dir, `${member}@laptop`);
  createUser(member, password);
  port = await freePort();
});

test.afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the member adds their key in Chromium, then gets a VM", async ({ browser }) => {
  test.setTimeout(180_000);
  const { context, page } = await newSignedInPage(browser, member, password);
  try {
    await page.goto("/account");
    const form = page.getByRole("form", { name: "Add an SSH key" });
    await form.getByLabel("Name").fill("laptop");
    await form.getByLabel("Public key").fill(readFileSync(path.join(dir, "id.pub"), "utf8"));
    await form.getByRole("button", { name: "Add key" }).click();
    await expect(page.getByTestId("ssh-key-fingerprint")).toHaveCount(1);
  } finally {
    await context.close();
  }
  // Provisioned after the key: its first boot has it.
  zaphod(["provision", member, vm, "--image", E2E_IMAGE, "--memory", "64", "--storage", "1", "--swap", "0"]);
});

test.describe("admin", () => {
  test.use({ storageState: storageState.admin });

  test("forwards a host port to the VM's SSH on /admin/network", async ({ page }) => {
    await page.goto("/admin/network");
    if (!IS_ROOT) {
      await expect(page.getByTestId("network-off")).toContainText("Networking is off on this host");
      return;
    }
    const form = page.getByTestId("add-forward-form");
    await form.getByLabel("Host port").fill("80");
    await form.getByRole("combobox").selectOption(vm);
    await form.getByRole("button", { name: "Add forward" }).click();
    await expect(page.getByRole("alert").filter({ hasText: /below 1024/ })).toBeVisible();
    await form.getByLabel("Host port").fill(String(port));
    await form.getByRole("button", { name: "Add forward" }).click();
    await expect(
      page.getByTestId("port-forward").filter({ hasText: `127.0.0.1:${port} → ${vm}:22` }),
    ).toBeVisible();
  });
});

test.describe("the member", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("sees ssh -p PORT root@127.0.0.1 on the VM page and logs in with a real client, the host key checked", async ({
    browser,
  }) => {
    test.setTimeout(180_000);
    const { context, page } = await newSignedInPage(browser, member, password);
    try {
      await page.goto(`/vms/${vm}`);
      await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 90_000 });
      if (!IS_ROOT) {
        await expect(page.getByTestId("no-network")).toHaveText(/This VM has no network address/);
        return;
      }
      const command = `ssh -p ${port} root@127.0.0.1`;
      await expect(page.getByTestId("ssh-command")).toHaveText([command]);
      const shown = (await page.getByTestId("network-host-key").allTextContents()).map((t) => t.trim());
      expect(shown.length).toBeGreaterThan(0);

      // The host key as the network gives it, accepted only when its fingerprint is one the page shows.
      let scanned = "";
      for (let i = 0; i < 30 && !scanned; i++) {
        const r = spawnSync("ssh-keyscan", ["-T", "5", "-t", "ed25519", "-p", String(port), "127.0.0.1"], {
          encoding: "utf8",
          timeout: 15_000,
        });
        scanned = r.stdout.split("\n").find((l) => l.includes("ssh-ed25519")) ?? "";
        if (!scanned) await page.waitForTimeout(2000);
      }
      expect(scanned, "ssh-keyscan through the forward").not.toBe("");
      const known = path.join(dir, "known_hosts");
      writeFileSync(known, `${scanned}\n`);
      const fingerprint =
        execFileSync("ssh-keygen", ["-lf", known], { encoding: "utf8" }).split(" ")[1] ?? "";
      expect(shown).toContain(fingerprint);

      const login = spawnSync(
        "ssh",
        [
          "-p",
          String(port),
          "-i",
          path.join(dir, "id"),
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          `UserKnownHostsFile=${known}`,
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=10",
          "root@127.0.0.1",
          "hostname; id -u",
        ],
        { encoding: "utf8", timeout: 30_000 },
      );
      expect(login.stdout.trim().split("\n"), login.stderr).toEqual([vm, "0"]);
    } finally {
      await context.close();
    }
  });
});
