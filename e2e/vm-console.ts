/**
 * The VM page and console as a member uses them, for specs: the latest task, a line typed into the
 * browser console (xterm.js), what its screen shows.
 */
import { expect, type Page } from "@playwright/test";

export const latestTask = (page: Page) => page.getByTestId("task").first();

/** Waits until the VM page's latest task is `kind` and has succeeded. */
export async function waitTask(page: Page, kind: string, timeout = 120_000) {
  await expect(latestTask(page)).toHaveAttribute("data-kind", kind, { timeout: 20_000 });
  await expect(latestTask(page)).toHaveAttribute("data-status", "succeeded", { timeout });
}

// innerText, not textContent: the screen's rows are separate elements and must stay separate lines.
// biome-ignore lint/performance/useDomNodeTextContent: Playwright Locator, layout-aware on purpose
export const screenOf = (page: Page) => page.locator(".xterm-accessibility-tree").innerText();

export async function typeLine(page: Page, text: string) {
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

/** Opens the VM's console page and waits until it is live. */
export async function openConsole(page: Page, vm: string) {
  await page.goto(`/vms/${vm}/console`);
  await expect(page.getByRole("toolbar", { name: "Console controls" }).getByRole("status")).toHaveText(
    "Live",
    {
      timeout: 30_000,
    },
  );
}

/** Opens the VM's console in the browser, logs in as root, runs `command`, waits for `seen`. */
export async function inConsole(page: Page, vm: string, command: string, seen: RegExp) {
  await openConsole(page, vm);
  await typeLine(page, "");
  await expect
    .poll(async () => /login:\s*$|#\s*$/.test((await screenOf(page)).trimEnd()), { timeout: 60_000 })
    .toBe(true);
  if (/login:\s*$/.test((await screenOf(page)).trimEnd())) await typeLine(page, "root");
  await expect
    .poll(async () => /#\s*$/.test((await screenOf(page)).trimEnd()), { timeout: 30_000 })
    .toBe(true);
  await typeLine(page, command);
  await expect.poll(() => screenOf(page), { timeout: 30_000 }).toMatch(seen);
}
