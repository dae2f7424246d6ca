/**
 * Snapshots in Chromium against the real stack (agent, UML VM): member A takes a snapshot with a
 * label (progress pushed live, then listed with date, size on disk and contents), writes a file,
 * restores after confirming (safety snapshot kept) and finds the file gone and the older one there;
 * deletes a snapshot. Member B gets not-found for A's snapshots (page, server actions called
 * directly) while the admin sees them on /admin/snapshots with the disk they use.
 */
import { expect, type Page, test } from "@playwright/test";
import { BASE_URL, storageState } from "../env";
import { createUser, newSignedInPage, serverActionId, uniqueName, zaphod } from "../helpers";
import { runInGuest } from "../vms/guest";

test.describe.configure({ mode: "serial" });

const owner = uniqueName("snp");
const password = "snap-owner-password-1";
const vm = owner;
let page: Page;
let close: () => Promise<void> = async () => undefined;
let snapshotId = "";

test.beforeAll(async ({ browser }) => {
  test.setTimeout(240_000);
  createUser(owner, password);
  zaphod(["provision", owner, vm, "--memory", "64", "--storage", "1", "--swap", "0"]);
  const signedIn = await newSignedInPage(browser, owner, password);
  page = signedIn.page;
  close = () => signedIn.context.close();
});

test.afterAll(async () => {
  await close();
});

async function latestTask(kind: string, status = "succeeded", timeout = 120_000) {
  const latest = page.getByTestId("task").first();
  await expect(latest).toHaveAttribute("data-kind", kind, { timeout: 20_000 });
  await expect(latest).toHaveAttribute("data-status", status, { timeout });
  return latest;
}

test("member takes a live snapshot: progress, then listed with date, size and contents", async () => {
  test.setTimeout(180_000);
  await runInGuest(vm, "echo before > /root/before; sync; echo b-$((1+1))", /^b-2/m);
  await page.goto(`/vms/${vm}`);
  const section = page.getByTestId("snapshots");
  await expect(section.getByRole("heading", { name: "Snapshots" })).toBeVisible();
  await expect(section.getByText("No snapshots yet.")).toBeVisible();
  await expect(page.getByTestId("snapshot-quota")).toContainText("0 of 5");
  await section.getByLabel("Label (optional)").fill("before the test");
  await section.getByLabel("Include storage disk").check();
  await section.getByRole("button", { name: "Take snapshot" }).click();
  const item = page.getByTestId("snapshot").filter({ hasText: "before the test" });
  await expect(item).toHaveAttribute("data-status", "ready", { timeout: 120_000 });
  await expect(item).toContainText("UTC");
  await expect(item.getByTestId("snapshot-size")).toHaveText(/\d+(\.\d)? (KiB|MiB|GiB) on disk/);
  await expect(item).toContainText("root + storage disks");
  await expect(item).toContainText(/live, paused \d+\.\d\d s/);
  await expect(page.getByTestId("snapshot-quota")).toContainText("1 of 5");
  const task = await latestTask("snapshot");
  await task.locator("summary").click();
  await expect(task).toContainText(/guest paused \d+\.\d\d s/);
  snapshotId = (await item.getAttribute("data-id")) ?? "";
  expect(snapshotId).toMatch(/^[0-9a-f-]{36}$/);
});

test("restore after confirmation: the file written later is gone, a safety snapshot is kept", async () => {
  test.setTimeout(240_000);
  await runInGuest(vm, "echo after > /root/after; sync; echo a-$((2+2))", /^a-4/m);
  const item = page.getByTestId("snapshot").filter({ hasText: "before the test" });
  await item.getByRole("button", { name: "Restore" }).click();
  const dialog = page.getByRole("alertdialog", { name: "Confirm restore" });
  await expect(dialog).toContainText("safety snapshot");
  await dialog.getByRole("button", { name: "Yes, restore" }).click();
  await latestTask("restore", "succeeded", 180_000);
  await expect(page.getByTestId("snapshot").filter({ hasText: "safety" })).toHaveAttribute(
    "data-status",
    "ready",
    {
      timeout: 20_000,
    },
  );
  await runInGuest(
    vm,
    "test -e /root/before && echo HAS-BEFORE; test -e /root/after || echo NO-AFTER; echo r-$((3+3))",
    /HAS-BEFORE[\s\S]*NO-AFTER[\s\S]*r-6/,
  );
  // Delete the safety snapshot (confirmed).
  const safety = page.getByTestId("snapshot").filter({ hasText: "safety" });
  await safety.getByRole("button", { name: "Delete" }).click();
  await page
    .getByRole("alertdialog", { name: "Confirm delete" })
    .getByRole("button", { name: "Yes, delete" })
    .click();
  await expect(page.getByTestId("snapshot").filter({ hasText: "safety" })).toHaveCount(0, {
    timeout: 20_000,
  });
  await expect(page.getByTestId("snapshot-quota")).toContainText("1 of 5");
});

test("member B: A's snapshots are not-found (page, server actions); the admin sees them and their disk use", async ({
  browser,
}) => {
  const adminContext = await browser.newContext({ storageState: storageState.admin, baseURL: BASE_URL });
  const admin = await adminContext.newPage();
  await admin.goto("/admin/snapshots");
  const row = admin.getByTestId("all-snapshots").getByRole("row").filter({ hasText: vm });
  await expect(row).toContainText("before the test");
  await expect(row).toContainText(/\d+(\.\d)? (KiB|MiB|GiB)/);
  await expect(admin.getByTestId("snapshot-host-usage")).toContainText("on the host's disk");
  await adminContext.close();

  const b = await browser.newContext({ storageState: storageState.member, baseURL: BASE_URL });
  const bPage = await b.newPage();
  const res = await bPage.goto(`/vms/${vm}`);
  expect(res?.status()).toBe(404);
  await bPage.goto("/");
  // Server actions called directly, bypassing the UI, with A's real snapshot id.
  const id = snapshotId;
  for (const [action, args] of [
    ["restoreSnapshotAction", { name: vm, snapshotId: id, confirm: id }],
    ["deleteSnapshotAction", { name: vm, snapshotId: id }],
    ["takeSnapshotAction", { name: vm, label: "", includeStorage: false }],
  ] as const) {
    // To the VM page's route, whose module graph holds the snapshot actions.
    const r = await bPage.request.post(`/vms/${vm}`, {
      headers: {
        Origin: BASE_URL,
        "Next-Action": serverActionId(action),
        "Content-Type": "text/plain;charset=UTF-8",
        Accept: "text/x-component",
      },
      data: JSON.stringify([args]),
    });
    const body = await r.text();
    expect(body, action).not.toContain('"ok":true');
    expect(body, action).toContain('"not-found"');
  }
  await b.close();
  // Still there for A.
  await page.reload();
  await expect(page.getByTestId("snapshot").filter({ hasText: "before the test" })).toHaveAttribute(
    "data-status",
    "ready",
  );
});
