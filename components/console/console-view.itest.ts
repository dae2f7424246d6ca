/**
 * ConsoleView and TerminalSession in Debian's Chromium, against the real console upgrade glue and
 * a stand-in agent running bash on a pty (bench/console/pty-agent.ts): typing and reading through
 * xterm's screen-reader tree, the window size reaching the pty, on-screen keys, Ctrl-Alt-Del,
 * reconnect after a web-tier restart, revocation. The full-stack version (real agent, UML VM, Next
 * page) belongs in e2e/console/.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startPtyAgent } from "../../bench/console/pty-agent";
import { startConsoleTestServer } from "../../server/web/console/testing/console-test-server";

const here = fileURLToPath(new URL(".", import.meta.url));
const outdir = mkdtempSync(join(tmpdir(), "zaphod-console-harness-"));

type Web = Awaited<ReturnType<typeof startConsoleTestServer>>;
let agent: Awaited<ReturnType<typeof startPtyAgent>>;
let web: Web;
let browser: Browser;
let page: Page;
let allowTickets = true;

const html = `<!doctype html><html><head><meta charset="utf-8"><title>console harness</title>
<link rel="stylesheet" href="/harness.css"></head><body><div id="root"></div><script src="/harness.js"></script></body></html>`;

async function startWeb(port?: number): Promise<Web> {
  const started: Web = await startConsoleTestServer({
    agentUrl: agent.url,
    port,
    onRequest: (req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(html);
      if (path === "/harness.js" || path === "/harness.css") {
        const type = path.endsWith(".js") ? "text/javascript" : "text/css";
        return res.writeHead(200, { "content-type": type }).end(readFileSync(join(outdir, path)));
      }
      if (path === "/ticket" && req.method === "POST") {
        if (!allowTickets) return res.writeHead(403).end();
        void started
          .issueToken("bench", "bench")
          .then((token) => res.writeHead(200).end(JSON.stringify({ token })));
        return;
      }
      res.writeHead(404).end();
    },
  });
  return started;
}

/** The machine is shared and loaded: give every poll the same generous timeout. */
const slow = { timeout: 10_000 };

// innerText, not textContent: the screen's rows are separate elements and must stay separate lines.
// biome-ignore lint/performance/useDomNodeTextContent: Playwright Locator, layout-aware on purpose
const screen = () => page.locator(".xterm-accessibility-tree").innerText();
const status = () => page.getByRole("status");

async function typeLine(text: string) {
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type(text);
  await page.keyboard.press("Enter");
}

beforeAll(async () => {
  await build({
    entryPoints: { harness: join(here, "testing/harness.tsx") },
    bundle: true,
    outdir,
    format: "iife",
    jsx: "automatic",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
  });
  agent = await startPtyAgent(join(outdir, "agent.sock"));
  web = await startWeb();
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  await page.goto(web.origin);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await web?.stop();
  await agent?.close();
  rmSync(outdir, { recursive: true, force: true });
});

describe("ConsoleView in Chromium", () => {
  it("goes live and types and reads through the terminal", async () => {
    await expect.poll(() => status().textContent(), { timeout: 20_000 }).toBe("Live");
    await expect.poll(screen, { timeout: 10_000 }).toContain("__P__$");
    await typeLine("echo hello-$((6*7))");
    await expect.poll(screen, slow).toContain("hello-42");
    const watching = page.getByRole("list", { name: "People watching this console" });
    await expect.poll(() => watching.textContent(), slow).toBe("bench");
  });

  it("brings the browser's window size to the pty, and follows a resize", async () => {
    // `stty size` prints "rows cols" as the pty sees them.
    const lastSize = async () => ((await screen()).match(/^\d+ \d+ *$/gm) ?? []).at(-1)?.trim();
    const sent = agent.events.resizes.at(-1)!;
    expect(sent.cols).toBeGreaterThan(80); // fitted to 1000 px, not xterm's default 80x24
    await typeLine("stty size");
    await expect.poll(lastSize, slow).toBe(`${sent.rows} ${sent.cols}`);
    await page.setViewportSize({ width: 700, height: 500 });
    await expect.poll(() => agent.events.resizes.at(-1)!.cols, slow).toBeLessThan(sent.cols);
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the debounced fit settle
    const narrower = agent.events.resizes.at(-1)!;
    await typeLine("clear; stty size");
    await expect.poll(lastSize, slow).toBe(`${narrower.rows} ${narrower.cols}`);
  });

  it("has on-screen keys: arrow up recalls history, sticky Ctrl + c interrupts", async () => {
    await typeLine("echo recall-$((1+1))");
    await expect.poll(screen, slow).toContain("recall-2");
    await page.getByRole("button", { name: "Arrow up" }).click();
    await page.keyboard.press("Enter");
    await expect
      .poll(async () => (await screen()).split("recall-2").length - 1, slow)
      .toBeGreaterThanOrEqual(2);

    await typeLine("sleep 30; echo not-$((1+1))-interrupted");
    const ctrl = page.getByRole("button", { name: "Ctrl (applies to the next key)" });
    await ctrl.click();
    await expect.poll(() => ctrl.getAttribute("aria-pressed"), slow).toBe("true");
    await page.keyboard.type("c");
    await expect.poll(() => ctrl.getAttribute("aria-pressed"), slow).toBe("false");
    await typeLine("echo after-ctrl-c");
    await expect.poll(screen, { timeout: 5_000 }).toContain("after-ctrl-c");
    expect(await screen()).not.toContain("not-2-interrupted");
  });

  it("check 21: answers no terminal query from the output and ignores title changes", async () => {
    const from = agent.events.input.length;
    // Queries the guest could print: DA1, DA2, DSR 6n, DECRQSS, a colour query; then a title.
    await typeLine(String.raw`printf '\e[c\e[>c\e[6n\eP$qm\e\\\e]11;?\a\e]0;pwned\a'; echo q-$((2*3))`);
    await expect.poll(screen, slow).toContain("q-6");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const typed = agent.events.input.slice(from);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: terminal replies start with ESC
    expect(typed).not.toMatch(/\x1b\[\??[\d;]*[cR]|\x1bP\d\$r|\x1b\]11;rgb/);
    expect(await page.title()).toBe("console harness");
  });

  it("sends Ctrl-Alt-Del only after a confirmation", async () => {
    await page.getByRole("button", { name: "Ctrl-Alt-Del…" }).click();
    expect(agent.events.ctrlAltDel).toBe(0);
    await page.getByRole("button", { name: "Send Ctrl-Alt-Del" }).click();
    await expect.poll(() => agent.events.ctrlAltDel, slow).toBe(1);
  });

  it("finds text in the scrollback", async () => {
    await page.getByRole("searchbox", { name: "Search console output" }).fill("recall-2"); // `clear` above emptied the scrollback (ESC[3J)
    await page.getByRole("button", { name: "Next match" }).click();
    expect(await page.getByText("No match").count()).toBe(0);
    await page.getByRole("searchbox", { name: "Search console output" }).fill("zzz-not-there");
    await page.getByRole("button", { name: "Next match" }).click();
    await expect.poll(() => page.getByText("No match").count(), slow).toBe(1);
  });

  it("reconnects by itself after a web-tier restart, without duplicating the screen", async () => {
    await typeLine("echo before-restart");
    await expect.poll(screen, slow).toContain("before-restart");
    const port = web.port;
    await web.stop();
    await expect.poll(() => status().textContent(), slow).toMatch(/Reconnecting|Connecting/);
    web = await startWeb(port);
    await expect.poll(() => status().textContent(), { timeout: 20_000 }).toBe("Live");
    // The stand-in agent starts a new shell per connection (the real one keeps it in tmux); the
    // terminal was reset before the replay, so nothing of the old screen is left twice.
    await expect.poll(screen, slow).not.toContain("before-restart");
    await expect.poll(screen, slow).toMatch(/^__P__\$/);
  });

  it("stops for good when access is revoked: no Reconnect offered, no reconnecting by itself", async () => {
    allowTickets = false;
    web.hub.closeUser("bench");
    await expect.poll(() => status().textContent(), slow).toBe("Closed. Access to this console was revoked.");
    expect(await page.getByRole("button", { name: "Reconnect now" }).count()).toBe(0);
    // Even once tickets would be issued again, a revoked console does not come back on its own.
    allowTickets = true;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await status().textContent()).toBe("Closed. Access to this console was revoked.");
    expect(await page.getByRole("button", { name: "Reconnect now" }).count()).toBe(0);
  });
});
