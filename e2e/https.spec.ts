/**
 * Members reach the panel over HTTPS: a second production server of the same release, web user,
 * database and agent, listening on 127.0.0.1 with a self-signed certificate the test makes (ZAPHOD_LISTEN,
 * ZAPHOD_TLS_CERT, ZAPHOD_TLS_KEY). Sign-in works, the session cookie is `__Host-` and Secure,
 * every answer carries HSTS, and plain http on that port gets no page.
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { webUserIds } from "./agent-stack";
import { MEMBER } from "./env";
import { freePort, spawnWebTier } from "./helpers";

let server: ChildProcess | null = null;
let dir = "";
let base = "";

test.beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-https-"));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  const port = await freePort();
  base = `https://127.0.0.1:${port}`;
  // The web user reads its key as in production (a key of its own, mode 0600).
  const ids = webUserIds();
  if (ids) for (const f of [dir, cert, key]) chownSync(f, ids.uid, ids.gid);
  server = spawnWebTier(
    {
      PORT: String(port),
      ZAPHOD_LISTEN: `127.0.0.1:${port}`,
      ZAPHOD_TLS_CERT: cert,
      ZAPHOD_TLS_KEY: key,
      ZAPHOD_ORIGINS: `${base},https://localhost:${port}`,
    },
    ["ignore", "ignore", "pipe"],
  );
  const until = Date.now() + 60_000;
  while (!tlsAnswers(base)) {
    if (server.exitCode !== null) throw new Error(`the https server exited with ${server.exitCode}`);
    if (Date.now() > until) throw new Error("the https server did not answer within 60 s");
    await new Promise((r) => setTimeout(r, 300));
  }
});

/** True when the server answers /api/health over TLS (certificate not checked: it is self-signed). */
function tlsAnswers(url: string): boolean {
  try {
    const out = execFileSync("curl", ["-ksS", "-o", "/dev/null", "-w", "%{http_code}", `${url}/api/health`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out === "200";
  } catch {
    return false;
  }
}

test.afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once("exit", r));
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("check 6: over HTTPS a member signs in; the session cookie is __Host- and Secure; answers carry HSTS", async ({
  browser,
}) => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, baseURL: base });
  const page = await context.newPage();
  const login = await page.goto("/login");
  expect(login?.headers()["strict-transport-security"]).toMatch(/max-age=\d+/);
  await page.getByLabel("Username or email").fill(MEMBER.username);
  await page.getByLabel("Password").fill(MEMBER.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-user")).toContainText(MEMBER.username);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "__Host-authjs.session-token");
  expect(session, `cookies: ${cookies.map((c) => c.name).join(", ")}`).toBeDefined();
  expect(session?.secure).toBe(true);
  expect(session?.httpOnly).toBe(true);
  expect(session?.path).toBe("/");
  expect(cookies.some((c) => c.name === "authjs.session-token")).toBe(false);
  const me = await page.request.get("/api/me");
  expect(me.status()).toBe(200);
  expect(me.headers()["strict-transport-security"]).toMatch(/max-age=\d+/);
  await context.close();
});

test("plain http on the HTTPS port gets no page", async () => {
  const answer = await fetch(`${base.replace("https:", "http:")}/login`).then(
    (r) => r.status,
    () => "refused",
  );
  expect(answer).not.toBe(200);
});
