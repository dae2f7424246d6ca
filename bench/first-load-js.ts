/**
 * B5 — first-load JavaScript of the dashboard and the console page, against a default Next.js
 * page built with the same Next version in the same run (../shared/notes/bench.md).
 *
 *   tsx bench/first-load-js.ts --zaphod http://127.0.0.1:3000 --cookie-file .cache/bench/member.cookie
 *
 * Sums the gzip size of every `<script src>` the HTML of a page references (what a browser must
 * download before the page is interactive). The peer is built in .cache/bench/default-next.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const root = resolve(import.meta.dirname, "..");

export async function firstLoadJs(
  pageUrl: string,
  cookie?: string,
): Promise<{ scripts: number; gzipBytes: number; rawBytes: number }> {
  const headers: Record<string, string> = cookie ? { cookie } : {};
  const response = await fetch(pageUrl, { headers, redirect: "manual" });
  if (response.status !== 200) throw new Error(`${pageUrl}: HTTP ${response.status} (signed in?)`);
  const html = await response.text();
  const sources = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map(
    (m) => new URL(m[1]!.replaceAll("&amp;", "&"), pageUrl).href,
  );
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const src of new Set(sources)) {
    const body = Buffer.from(await (await fetch(src, { headers })).arrayBuffer());
    rawBytes += body.length;
    gzipBytes += gzipSync(body, { level: 9 }).length;
  }
  return { scripts: new Set(sources).size, gzipBytes, rawBytes };
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
    });
    child.on("exit", (code) =>
      code === 0 ? ok() : fail(new Error(`${cmd} ${args.join(" ")} exited ${code}`)),
    );
  });
}

/** Builds and starts the peer: a default, server-only Next page. Returns its URL and a stop function. */
async function startDefaultNext(port: number): Promise<{ url: string; stop: () => void }> {
  const dir = join(root, ".cache/bench/default-next");
  mkdirSync(join(dir, "app"), { recursive: true });
  if (!existsSync(join(dir, "node_modules")))
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "default-next", private: true }));
  writeFileSync(
    join(dir, "app/layout.tsx"),
    'export default function RootLayout({ children }: { children: React.ReactNode }) {\n  return <html lang="en"><body>{children}</body></html>;\n}\n',
  );
  writeFileSync(
    join(dir, "app/page.tsx"),
    "export default function Home() {\n  return <main><h1>Hello</h1><p>A default Next.js page.</p></main>;\n}\n",
  );
  if (!existsSync(join(dir, ".next/BUILD_ID")))
    await run(join(root, "node_modules/.bin/next"), ["build"], dir);
  const child = spawn(
    join(root, "node_modules/.bin/next"),
    ["start", "-H", "127.0.0.1", "-p", String(port)],
    {
      cwd: dir,
      stdio: "ignore",
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) break;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, stop: () => child.kill("SIGTERM") };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      zaphod: { type: "string", default: "http://127.0.0.1:3000" },
      "cookie-file": { type: "string" },
      console: { type: "string", description: "path of a console page, e.g. /vms/demo/console" },
      port: { type: "string", default: "3199" },
    },
  });
  const cookie = values["cookie-file"] ? readFileSync(values["cookie-file"], "utf8").trim() : undefined;
  const peer = await startDefaultNext(Number(values.port));
  try {
    const base = await firstLoadJs(peer.url);
    const dashboard = await firstLoadJs(new URL("/", values.zaphod).href, cookie);
    const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
    console.log(`default Next page: ${kb(base.gzipBytes)} gzip in ${base.scripts} scripts`);
    console.log(`zaphod dashboard:  ${kb(dashboard.gzipBytes)} gzip in ${dashboard.scripts} scripts`);
    console.log(`B5 dashboard ratio: ${(dashboard.gzipBytes / base.gzipBytes).toFixed(2)}× (target ≤ 1.10×)`);
    if (values.console) {
      const consolePage = await firstLoadJs(new URL(values.console, values.zaphod).href, cookie);
      console.log(
        `zaphod console:    ${kb(consolePage.gzipBytes)} gzip (dashboard + ${kb(consolePage.gzipBytes - dashboard.gzipBytes)}; target ≤ +130 KB)`,
      );
    }
  } finally {
    peer.stop();
  }
}
