/**
 * Issue 12 point 4 in Chromium against the real stack: a member adds an SSH public key on
 * /account (a real key from ssh-keygen: the fingerprint shown is ssh-keygen's; a malformed one is
 * refused with the reason and nothing typed is lost), sees their VM's SSH host-key fingerprints
 * on the VM page (the agent's own keys: compared with the files), sets the VM's root password
 * and is told it applies at the next boot; after a reboot the guest's console asks for it.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { AGENT_DATA_DIR } from "../env";
import { createUser, newSignedInPage, newSshKey, uniqueName, zaphod } from "../helpers";

test.describe.configure({ mode: "serial" });

const username = uniqueName("ssh");
const password = "ssh-member-password-1";
const vm = username;
let dir = "";

test.beforeAll(async () => {
  test.setTimeout(180_000);
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-e2e-keys-"));
  newSshKey(dir, `${username}@laptop`);
  createUser(username, password);
  zaphod(["provision", username, vm, "--memory", "64", "--storage", "1", "--swap", "0"]);
});

test.afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a member adds an SSH key on their account page and sees ssh-keygen's fingerprint", async ({
  browser,
}) => {
  const { context, page } = await newSignedInPage(browser, username, password);
  try {
    await page.goto("/account");
    const form = page.getByRole("form", { name: "Add an SSH key" });
    await form.getByLabel("Name").fill("laptop");
    await form.getByLabel("Public key").fill("ssh-ed25519 AAAA-not-a-key");
    await form.getByRole("button", { name: "Add key" }).click();
    await expect(form.getByText("the key's second part is not base64")).toBeVisible();
    await expect(form.getByLabel("Name")).toHaveValue("laptop");

    const pub = readFileSync(path.join(dir, "id.pub"), "utf8");
    await form.getByLabel("Public key").fill(pub);
    await form.getByRole("button", { name: "Add key" }).click();
    const fingerprint =
      execFileSync("ssh-keygen", ["-lf", path.join(dir, "id.pub")], { encoding: "utf8" }).split(" ")[1] ?? "";
    await expect(page.getByRole("status")).toContainText(`Key ${fingerprint} added`);
    await expect(page.getByTestId("ssh-key-fingerprint")).toHaveText([fingerprint]);
  } finally {
    await context.close();
  }
});

test("the VM page shows the VM's host keys; a root password set there applies at the next boot", async ({
  browser,
}) => {
  test.setTimeout(180_000);
  const { context, page } = await newSignedInPage(browser, username, password);
  try {
    await page.goto(`/vms/${vm}`);
    await expect(page.getByTestId("vm-state")).toHaveText("running", { timeout: 60_000 });
    const hostKeys = page.getByTestId("host-key");
    await expect(hostKeys).toHaveCount(2);
    for (const type of ["ed25519", "ecdsa"]) {
      const file = path.join(AGENT_DATA_DIR, "vms", vm, "host-keys", `ssh_host_${type}_key.pub`);
      const fingerprint = execFileSync("ssh-keygen", ["-lf", file], { encoding: "utf8" }).split(" ")[1] ?? "";
      await expect(hostKeys.filter({ hasText: type })).toContainText(fingerprint);
    }
    // The key added on /account reached the agent for this VM.
    await expect(page.getByText("Root accepts 1 SSH key")).toBeVisible();

    const form = page.getByRole("form", { name: "Set the root password" });
    await form.getByLabel("New root password").fill("guest-root-pass-1");
    await form.getByLabel("Repeat it").fill("guest-root-pass-2");
    await form.getByRole("button", { name: "Set root password" }).click();
    await expect(form.getByText("The two passwords differ")).toBeVisible();
    await form.getByLabel("Repeat it").fill("guest-root-pass-1");
    await form.getByRole("button", { name: "Set root password" }).click();
    await expect(form.getByText("Root password set: the VM uses it from its next boot.")).toBeVisible();
    await page.reload();
    await expect(page.getByText("applies at this VM's next boot")).toBeVisible();
    await expect(page.getByTestId("vm-history")).toContainText("Root password set (from the next boot)");

    await page.getByRole("button", { name: "Reboot" }).click();
    await expect(page.getByTestId("task").first()).toHaveAttribute("data-status", "succeeded", {
      timeout: 120_000,
    });
    await page.reload();
    await expect(page.getByText("Root accepts 1 SSH key")).toBeVisible();
    await expect(page.getByText("applies at this VM's next boot")).toHaveCount(0);
    await expect(page.getByText("asks for the root password set here")).toBeVisible();
  } finally {
    await context.close();
  }
});
