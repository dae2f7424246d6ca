/**
 * Several hosts (issue 13 points 2 and 4; security.md checks 26 and 47), against a real database
 * and two real agents: the panel's own on its Unix socket, and a second one with its own data
 * directory and prefixes (host users, cgroups, namespaces) listening with mutual TLS on 127.0.0.2,
 * added with `host add` and joined through the real join route handler (`agent join`, the real
 * agent program). Every refusal is asserted before any verb: the agent's log gains no `rpc` line.
 */
import { spawn } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { lstat } from "node:fs/promises";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { POST as joinRoute } from "../../../app/api/hosts/join/route";
import { deleteNetns } from "../../agent/confine/netns";
import { createHarness, type Harness } from "../../agent/testing/agent-harness";
import { TestConsole } from "../../agent/testing/console-client";
import { AgentCallError, createAgentClient } from "../agent/client";
import { createHostDirectory } from "../agent/host-directory";
import { setAgentForTests } from "../agent/instance";
import { createRoutedAgent, type RoutedAgent } from "../agent/routed";
import type { Caller } from "../dal/caller";
import { unsafeGetHost, unsafeRecordCertificate } from "../dal/hosts";
import { restoreSnapshot, takeSnapshot } from "../snapshots/service";
import { activeCallers } from "../testing/actors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { getHub } from "../vms/hub";
import { provisionVm, requestPowerAction } from "../vms/service";
import { createCa, makeCsr, newKeyPem, signCsr } from "./pki";
import {
  addHost,
  currentCrl,
  panelCa,
  removeHost,
  resetHostsCacheForTests,
  revokeCertificates,
  webIdentity,
} from "./service";

// The join route reads no session (its token is the credential); Auth.js is not loaded here.
vi.mock("../dal/get-session", () => ({
  getSession: async () => {
    throw new Error("the join route must not read a session");
  },
}));

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

let local: Harness;
let h2: Harness;
let t: TestDb;
let panel: Server;
let panelUrl: string;
let port2: number;
let agent: RoutedAgent;
let admin: Caller;
let member: Caller;

async function settled(
  taskId: string,
  timeoutMs = 120_000,
): Promise<{ status: string; error: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const task = await t.db.task.findUnique({ where: { id: taskId } });
    if (task && task.status !== "running" && task.status !== "queued")
      return { status: task.status, error: task.error };
    if (Date.now() > deadline) return { status: task?.status ?? "missing", error: "timed out" };
    await new Promise((r) => setTimeout(r, 200));
  }
}

const spec = { memoryMiB: 64, storageGiB: 1, swapMiB: 0, autostart: false, startNow: false } as const;

async function freePort(host: string): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The real route handler of POST /api/hosts/join behind a plain HTTP server on 127.0.0.1. */
async function startJoinEndpoint(): Promise<void> {
  panel = createHttpServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = new NextRequest(`http://127.0.0.1${req.url}`, {
      method: req.method,
      headers: { "content-type": String(req.headers["content-type"] ?? "") },
      body: Buffer.concat(chunks),
    });
    const response = await joinRoute(request, { params: Promise.resolve({}) });
    res.writeHead(response.status, { "content-type": "application/json" });
    res.end(await response.text());
  });
  await new Promise<void>((resolve) => panel.listen(0, "127.0.0.1", resolve));
  panelUrl = `http://127.0.0.1:${(panel.address() as { port: number }).port}`;
}

/** `agent join` as an admin runs it on the new host: the real agent program, the host's env. */
function agentJoin(h: Harness, token: string, fingerprint: string) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "server/agent/main.ts", "join", panelUrl, token, fingerprint],
      {
        cwd: repoRoot,
        env: h.env as unknown as NodeJS.ProcessEnv,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("exit", (code) => resolve({ code, output }));
  });
}

const rpcLines = () => h2.agentLog.join("").match(/ rpc op=/g)?.length ?? 0;

/** One raw request to h2's agent with the given TLS client settings: the health verb. */
function rawHealth(options: Record<string, unknown>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ v: 1, id: crypto.randomUUID(), op: "agent.health", args: {} });
    const req = httpsRequest(
      {
        host: "127.0.0.2",
        port: port2,
        path: "/v1/rpc",
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        rejectUnauthorized: false,
        agent: false,
        timeout: 10_000,
        ...options,
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A certificate the panel's CA issued and recorded (as `addHost`/`webIdentity` would). */
async function issuedCert(role: "web" | "host", name: string) {
  const made = await clientCert(await panelCa(), role, name);
  await unsafeRecordCertificate({
    serial: made.serial,
    role,
    subject: name,
    notAfter: new Date(Date.now() + 86_400_000),
  });
  return made;
}

/** A client certificate of the given role from `ca`, valid from `notBefore` to `notAfter`. */
async function clientCert(
  ca: { certPem: string; keyPem: string },
  role: "web" | "host",
  name: string,
  dates: { notBefore?: Date; notAfter?: Date } = {},
) {
  const key = newKeyPem();
  const { certPem, serial } = await signCsr(ca, { csrPem: await makeCsr(key, "x"), role, name, ...dates });
  return { key, cert: certPem, serial };
}

const H2_NETNS = `zt-h2-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  t = await setupTestDb();
  resetHostsCacheForTests();
  [local, h2] = await Promise.all([createHarness({ confine: false }), createHarness()]);
  port2 = await freePort("127.0.0.2");
  // host-two has its own VM network (its own namespace, bridge and pool); the panel's host none.
  Object.assign(h2.env, {
    ZAPHOD_AGENT_LISTEN: `127.0.0.2:${port2}`,
    ZAPHOD_NET_NETNS: H2_NETNS,
    ZAPHOD_NET_SUBNET: "10.78.0.0/24",
    ZAPHOD_NET_GATEWAY: "10.78.0.1",
  });
  await local.startAgent();
  await startJoinEndpoint();
  agent = createRoutedAgent(
    createAgentClient({ socketPath: local.socketPath, timeoutMs: 15_000 }),
    createHostDirectory(),
  );
  setAgentForTests(agent);
  const tag = String(Date.now() % 10_000);
  const callers = await activeCallers(t.db, [
    [`hostadm${tag}`, "admin"],
    [`carol${tag}`, "member"],
  ]);
  admin = callers[`hostadm${tag}`] as Caller;
  member = callers[`carol${tag}`] as Caller;
}, 240_000);

afterAll(async () => {
  setAgentForTests(undefined);
  agent?.close();
  if (panel) await new Promise((resolve) => panel.close(resolve));
  await h2?.cleanup();
  await local?.cleanup();
  await deleteNetns(H2_NETNS).catch(() => undefined);
  await t?.close();
});

describe("joining a host", () => {
  it("an agent with ZAPHOD_AGENT_LISTEN and no certificates refuses to start, naming `agent join`", async () => {
    await expect(h2.startAgent()).rejects.toThrow(/agent join/);
  });

  it("host add prints a one-time token and the CA fingerprint; agent join with them gives the host its certificate", async () => {
    const added = await addHost({ name: "host-two", address: "127.0.0.2", port: port2 });
    expect(added.fingerprint).toMatch(/^SHA256:([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(added.token.length).toBeGreaterThanOrEqual(32);
    expect((await unsafeGetHost("host-two"))?.state).toBe("pending");

    const joined = await agentJoin(h2, added.token, added.fingerprint);
    expect(joined.output).toContain("joined the panel");
    expect(joined.code).toBe(0);
    const row = await unsafeGetHost("host-two");
    expect(row).toMatchObject({ state: "joined", joinTokenHash: null });
    // The key never left the host, 0600 in a 0700 directory; the certificate names the host.
    const tlsDir = join(h2.dataDir, "tls");
    expect((await lstat(tlsDir)).mode & 0o777).toBe(0o700);
    expect((await lstat(join(tlsDir, "agent.key"))).mode & 0o777).toBe(0o600);
    const { readFile } = await import("node:fs/promises");
    const cert = new X509Certificate(await readFile(join(tlsDir, "agent.crt"), "utf8"));
    expect(cert.subject).toContain("CN=host:host-two");
    expect(cert.subjectAltName).toContain("IP Address:127.0.0.2");
    expect(cert.serialNumber.toUpperCase()).toBe(row?.certSerial);

    // The token was one use.
    const again = await agentJoin(h2, added.token, added.fingerprint);
    expect(again.code).not.toBe(0);
    expect(again.output).toContain("join token is not valid");
  });

  it("a join whose panel CA is not the fingerprint given is refused and writes nothing", async () => {
    const other = await createHarness({ confine: false });
    try {
      const added = await addHost({ name: "host-three", address: "127.0.0.3" });
      const wrong = `SHA256:${"AB:".repeat(31)}AB`;
      const joined = await agentJoin(other, added.token, wrong);
      expect(joined.code).not.toBe(0);
      expect(joined.output).toContain("not the one given: not joined");
      await expect(lstat(join(other.dataDir, "tls", "agent.crt"))).rejects.toThrow(/ENOENT/);
      await expect(lstat(join(other.dataDir, "tls", "agent.key"))).rejects.toThrow(/ENOENT/);
    } finally {
      await other.cleanup();
      await removeHost("host-three");
    }
  });

  it("the joined agent starts with its TLS listener, and the panel reaches it through the VM's host", async () => {
    await h2.startAgent();
    await expect
      .poll(() => h2.agentLog.join(""), { timeout: 30_000 })
      .toContain(`listening on 127.0.0.2:${port2} (mutual TLS, host host-two)`);
    const health = await agent.forHost("host-two").call("agent.health", {});
    expect(health.version).toBe(1);
    expect(health.privileged).toBe(true);
    expect(health.confined).toBe(true);
    // The two agents are two hosts: their own data, images and VMs.
    const [mine, theirs] = await Promise.all([
      agent.call("image.list", {}),
      agent.forHost("host-two").call("image.list", {}),
    ]);
    expect(mine.images.map((i) => i.name)).toContain(local.image);
    expect(theirs.images.map((i) => i.name)).toContain(h2.image);
  });
});

describe("the agent refuses every client the panel did not issue, before any verb (checks 26, 47)", () => {
  it("the panel's own web certificate is accepted (the positive control)", async () => {
    const me = await webIdentity();
    const before = rpcLines();
    const r = await rawHealth({ key: me.key, cert: me.cert, ca: me.ca });
    expect(r.status).toBe(200);
    await expect.poll(rpcLines).toBe(before + 1);
  });

  it("check 26: a replayed request id over TLS gets the first reply, or is refused for another request", async () => {
    const id = crypto.randomUUID();
    const remote = agent.forHost("host-two");
    const first = await remote.call("agent.health", {}, { id });
    const again = await remote.call("agent.health", {}, { id });
    expect(again.uptimeSeconds).toBe(first.uptimeSeconds); // the cached reply, not a second run
    await expect(remote.call("image.list", {}, { id })).rejects.toThrow(
      /request id reused for another request/,
    );
  });

  it("check 26: no client certificate, one from another CA, an expired one, a host's certificate and TLS 1.1 are refused", async () => {
    const ca = await panelCa();
    const foreign = await clientCert(await createCa("someone else's CA"), "web", "intruder");
    const expired = await clientCert(ca, "web", "old-instance", {
      notBefore: new Date(Date.now() - 3 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const hostCert = await clientCert(ca, "host", "host-two");
    const me = await webIdentity();
    const before = rpcLines();
    await expect(rawHealth({})).rejects.toThrow();
    await expect(rawHealth({ key: foreign.key, cert: foreign.cert })).rejects.toThrow();
    await expect(rawHealth({ key: expired.key, cert: expired.cert })).rejects.toThrow();
    await expect(rawHealth({ key: hostCert.key, cert: hostCert.cert })).rejects.toThrow();
    await expect(
      rawHealth({ key: me.key, cert: me.cert, maxVersion: "TLSv1.1", minVersion: "TLSv1" }),
    ).rejects.toThrow();
    expect(rpcLines()).toBe(before);
    const log = h2.agentLog.join("");
    expect(log).toMatch(/tls refused .*certificate/);
  });

  it("check 47: a revoked web certificate is refused once the panel's CRL reaches the agent, and its open connection ends", async () => {
    const ca = await panelCa();
    const doomed = await issuedCert("web", "doomed-instance");
    expect((await rawHealth({ key: doomed.key, cert: doomed.cert })).status).toBe(200);
    // A connection it holds open now is closed by the agent when the CRL arrives.
    const held = tlsConnect({
      host: "127.0.0.2",
      port: port2,
      key: doomed.key,
      cert: doomed.cert,
      rejectUnauthorized: false,
    });
    held.on("error", () => undefined);
    await new Promise((resolve) => held.once("secureConnect", resolve));
    const heldClosed = new Promise((resolve) => held.once("close", resolve));
    await revokeCertificates([doomed.serial]);
    const crl = await currentCrl();
    const trusted = await agent.forHost("host-two").call("host.trust", { crl: crl.pem });
    expect(trusted.crlNumber).toBe(crl.number);
    await heldClosed;
    const before = rpcLines();
    await expect(rawHealth({ key: doomed.key, cert: doomed.cert })).rejects.toThrow();
    expect(rpcLines()).toBe(before);
    // An older CRL, or one another CA signed, is refused by the agent.
    const stale = await agent
      .forHost("host-two")
      .call("host.trust", { crl: crl.pem })
      .catch((e) => e);
    expect(stale).toMatchObject({ crlNumber: crl.number }); // the same one again is no change
    const { makeCrl } = await import("./pki");
    const forged = await makeCrl(await createCa("forger"), [], crl.number + 5);
    await expect(agent.forHost("host-two").call("host.trust", { crl: forged })).rejects.toThrow(
      /not one the pinned CA signed/,
    );
    const older = await makeCrl(ca, [], 1);
    await expect(agent.forHost("host-two").call("host.trust", { crl: older })).rejects.toThrow(
      /older than the one held/,
    );
    // The panel's own certificate still works.
    expect((await agent.forHost("host-two").call("agent.health", {})).version).toBe(1);
  });
});

describe("the panel refuses an agent it did not issue, before any verb", () => {
  /** A TLS server on 127.0.0.3 that counts the requests it gets and answers like an agent would. */
  async function fakeAgent(certs: { key: string; cert: string }, reply: object) {
    let requests = 0;
    const me = await webIdentity();
    const server = createHttpsServer(
      { ...certs, ca: me.ca, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        requests++;
        req.resume();
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(reply));
      },
    );
    const port = await freePort("127.0.0.3");
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.3", resolve));
    return { port, requests: () => requests, close: () => new Promise((r) => server.close(r)) };
  }

  async function joinedRow(name: string, port: number, certSerial: string) {
    await t.db.host.create({ data: { name, address: "127.0.0.3", port, state: "joined", certSerial } });
  }

  it("check 47: an agent with a certificate from another CA, with another host's certificate, or with one it did not join with", async () => {
    const ca = await panelCa();
    const cases: [string, { key: string; cert: string; serial: string }, string, RegExp][] = [];
    const foreign = await clientCert(await createCa("rogue CA"), "host", "rogue-a");
    cases.push(["rogue-a", foreign, foreign.serial, /unable to verify|self.signed|certificate/i]);
    const otherHost = await clientCert(ca, "host", "host-two");
    cases.push(["rogue-b", otherHost, otherHost.serial, /is not host rogue-b/]);
    const replaced = await clientCert(ca, "host", "rogue-c");
    cases.push(["rogue-c", replaced, "0123456789ABCDEF0123456789ABCDEF", /not the one it joined with/]);
    for (const [name, certs, serial, why] of cases) {
      await unsafeRecordCertificate({
        serial,
        role: "host",
        subject: name,
        notAfter: new Date(Date.now() + 86_400_000),
      });
      const fake = await fakeAgent(certs, { v: 1, id: null, ok: true, result: {} });
      try {
        await joinedRow(name, fake.port, serial);
        const error = await agent
          .forHost(name)
          .call("agent.health", {})
          .catch((e) => e);
        expect(error, name).toBeInstanceOf(AgentCallError);
        expect((error as AgentCallError).transport).toBe("unreachable");
        expect((error as Error).message).toMatch(why);
        expect(fake.requests(), name).toBe(0);
      } finally {
        await fake.close();
        await t.db.host.delete({ where: { name } });
      }
    }
  });

  it("a host whose certificate the panel revoked is refused", async () => {
    const certs = await issuedCert("host", "rogue-d");
    await revokeCertificates([certs.serial]);
    const fake = await fakeAgent(certs, { v: 1, id: null, ok: true, result: {} });
    try {
      await joinedRow("rogue-d", fake.port, certs.serial);
      await expect(agent.forHost("rogue-d").call("agent.health", {})).rejects.toThrow(/revoked/);
      expect(fake.requests()).toBe(0);
    } finally {
      await fake.close();
      await t.db.host.delete({ where: { name: "rogue-d" } });
    }
  });

  it("an agent that speaks another protocol version is refused and shown as incompatible", async () => {
    const certs = await issuedCert("host", "future");
    const fake = await fakeAgent(certs, {
      v: 2,
      id: null,
      ok: false,
      error: { code: "invalid-request", message: "v: expected 2" },
    });
    try {
      await joinedRow("future", fake.port, certs.serial);
      const error = await agent
        .forHost("future")
        .call("agent.health", {})
        .catch((e) => e);
      expect((error as AgentCallError).transport).toBe("incompatible");
      expect((error as Error).message).toMatch(/speaks protocol 2; this panel speaks 1/);
      await expect.poll(async () => (await unsafeGetHost("future"))?.reachability).toBe("incompatible");
    } finally {
      await fake.close();
      await t.db.host.delete({ where: { name: "future" } });
    }
  });
});

describe("a VM on the second host", () => {
  it("is provisioned on the host the admin picks, and its power, status, snapshot and console go to that host's agent", async () => {
    const { taskId } = await provisionVm(admin, {
      ownerId: member.id,
      name: "far-vm",
      image: h2.image,
      ...spec,
      host: "host-two",
    });
    expect(await settled(taskId)).toMatchObject({ status: "succeeded" });
    expect((await t.db.vm.findUnique({ where: { name: "far-vm" } }))?.host).toBe("host-two");
    // It lives on h2 (its data directory, its host user with h2's prefix), not on the panel's host.
    expect((await lstat(join(h2.dataDir, "vms", "far-vm"))).isDirectory()).toBe(true);
    await expect(lstat(join(local.dataDir, "vms", "far-vm"))).rejects.toThrow(/ENOENT/);
    const passwd = await (await import("node:fs/promises")).readFile("/etc/passwd", "utf8");
    expect(passwd).toContain(`${h2.prefix}${member.username}:`);

    const start = await requestPowerAction(member, "far-vm", "start");
    expect(await settled(start.taskId)).toMatchObject({ status: "succeeded" });
    expect((await agent.call("vm.status", { name: "far-vm" })).state).toBe("running");
    expect((await getHub().live("far-vm")).state).toBe("running");

    const console = await TestConsole.shell(await agent.openConsole("far-vm"));
    const mark = console.text.length;
    console.type("echo on-$(hostname)-$((6*7))\r");
    await console.waitFor(/on-far-vm-42/, 30_000, mark);
    console.ws.close();

    const snap = await takeSnapshot(member, { vmName: "far-vm", label: "before", includeStorage: false });
    expect(snap.taskId).toBeTruthy();
    expect(await settled(snap.taskId as string)).toMatchObject({ status: "succeeded" });
    const { snapshots } = await agent.call("snapshot.list", { name: "far-vm" });
    expect(snapshots.map((x) => x.id)).toContain(snap.snapshotId);
  }, 240_000);

  it("with the most headroom by RAM + swap, placement picks a host that answers", async () => {
    const { unsafePickHost } = await import("../vms/host-figures");
    const picked = await unsafePickHost(["local", "host-two", "nowhere"]);
    expect(["local", "host-two"]).toContain(picked);
  });

  it("killing host-two's agent shows its VM as unknown and the host unreachable; the panel's own host keeps working", async () => {
    const { taskId } = await provisionVm(admin, {
      ownerId: member.id,
      name: "near-vm",
      image: local.image,
      ...spec,
      host: "local",
    });
    expect(await settled(taskId)).toMatchObject({ status: "succeeded" });
    await h2.killAgent("SIGKILL");
    const error = await agent.call("vm.status", { name: "far-vm" }).catch((e) => e);
    expect((error as AgentCallError).transport).toBe("unreachable");
    expect((error as Error).message).toMatch(/^host host-two: /);
    await expect.poll(async () => (await getHub().live("far-vm")).state, { timeout: 15_000 }).toBe("unknown");
    await expect
      .poll(async () => (await unsafeGetHost("host-two"))?.reachability, { timeout: 15_000 })
      .toBe("unreachable");
    // The VM kept running on h2: the agent is gone, not the host.
    // The panel's own host is unaffected.
    const start = await requestPowerAction(member, "near-vm", "start");
    expect(await settled(start.taskId)).toMatchObject({ status: "succeeded" });
    expect((await getHub().live("near-vm")).state).toBe("running");
    // The agent comes back: so does the VM's state.
    await h2.startAgent();
    await expect.poll(async () => (await getHub().live("far-vm")).state, { timeout: 30_000 }).toBe("running");
    await expect
      .poll(async () => (await unsafeGetHost("host-two"))?.reachability, { timeout: 15_000 })
      .toBe("up");
  }, 240_000);

  it("host remove is refused while VMs live on the host", async () => {
    await expect(removeHost("host-two")).rejects.toThrow(/still has 1 VM: move or destroy them first/);
  });
});

describe("images on every host and cold moves (point 3)", () => {
  const IMAGE = "busybox-moved";

  async function shell(name: string) {
    return TestConsole.shell(await agent.openConsole(name));
  }

  async function run(name: string, command: string, expect: RegExp) {
    const console = await shell(name);
    const mark = console.text.length;
    console.type(`${command}\r`);
    const seen = await console.waitFor(expect, 30_000, mark);
    console.ws.close();
    return seen;
  }

  it("an image is published on another host with the same name, bytes and mtime; again is a no-op; another image under that name is refused", async () => {
    // A second image on the panel's host, as an admin would build it.
    const { copyFile, chmod: chmodFile, writeFile: write, stat } = await import("node:fs/promises");
    const images = join(local.dataDir, "images");
    await copyFile(join(images, `${local.image}.ext4`), join(images, `${IMAGE}.ext4`));
    await chmodFile(join(images, `${IMAGE}.ext4`), 0o444);
    await write(
      join(images, `${IMAGE}.json`),
      `${JSON.stringify({ name: IMAGE, kind: "busybox", createdAt: new Date().toISOString() })}\n`,
    );
    const { publishImageTo } = await import("./move");
    const first = await publishImageTo(IMAGE, "local", "host-two");
    expect(first.copied).toBe(true);
    const [mine, theirs] = await Promise.all([
      stat(join(images, `${IMAGE}.ext4`)),
      stat(join(h2.dataDir, "images", `${IMAGE}.ext4`)),
    ]);
    expect(theirs.size).toBe(mine.size);
    expect(Math.floor(theirs.mtimeMs / 1000)).toBe(Math.floor(mine.mtimeMs / 1000)); // what a COW header pins
    expect(theirs.mode & 0o777).toBe(0o444);
    expect(theirs.blocks * 512).toBeLessThan(theirs.size); // written sparse
    const sums = await Promise.all([
      agent.call("image.checksum", { name: IMAGE }),
      agent.forHost("host-two").call("image.checksum", { name: IMAGE }),
    ]);
    expect(sums[1].sha256).toBe(sums[0].sha256);
    expect((await publishImageTo(IMAGE, "local", "host-two")).copied).toBe(false);
    // Each host built its own busybox-test: same name, other bytes.
    await expect(publishImageTo(local.image, "local", "host-two")).rejects.toThrow(
      /another image named busybox-test/,
    );
  }, 120_000);

  it("a disk whose bytes are not the announced ones is not kept", async () => {
    const into = await agent.forHost("host-two").client();
    const { Readable } = await import("node:stream");
    const config = {
      name: "ghost-vm",
      owner: member.username,
      image: IMAGE,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      mac: "02:00:00:00:00:01",
      ipv4: null,
      rateLimitKbit: null,
      autostart: false,
      createdAt: new Date().toISOString(),
    };
    await agent.forHost("host-two").call("vm.moveIn", { name: "ghost-vm", config, hostKeys: {} });
    const bytes = Buffer.alloc(200_000, 7);
    const error = await into
      .upload(
        "/v1/vms/ghost-vm/disks/root.cow",
        Readable.from([bytes]),
        { "x-zaphod-sha256": "0".repeat(64), "x-zaphod-size": String(bytes.length) },
        bytes.length,
      )
      .catch((e) => e);
    expect((error as Error).message).toMatch(/not kept/);
    await expect(lstat(join(h2.dataDir, "vms", ".incoming-ghost-vm", "disk", "root.cow"))).rejects.toThrow(
      /ENOENT/,
    );
    await expect(agent.forHost("host-two").call("vm.moveCommit", { name: "ghost-vm" })).rejects.toThrow(
      /has not arrived/,
    );
    expect(await agent.forHost("host-two").call("vm.moveAbort", { name: "ghost-vm" })).toEqual({
      name: "ghost-vm",
      aborted: true,
    });
  });

  it("a stopped VM moves to the other host and back, its disks checked, its files, SSH host keys and snapshots with it", async () => {
    const { moveVm } = await import("./move");
    const { taskId } = await provisionVm(admin, {
      ownerId: member.id,
      name: "wander-vm",
      image: IMAGE,
      ...spec,
      host: "local",
    });
    expect(await settled(taskId)).toMatchObject({ status: "succeeded" });
    expect(await settled((await requestPowerAction(member, "wander-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    await run(
      "wander-vm",
      "echo kept-$((40+2)) > /root/proof; sync; cat /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -c1-40; echo written",
      /written/,
    );
    // Running: refused, and nothing changed.
    await expect(moveVm("cli", "wander-vm", "host-two")).rejects.toThrow(/running: stop it before moving it/);
    expect(await settled((await requestPowerAction(member, "wander-vm", "poweroff")).taskId)).toMatchObject({
      status: "succeeded",
    });
    const keysBefore = await (await import("node:fs/promises"))
      .readdir(join(local.dataDir, "vms", "wander-vm", "host-keys"))
      .catch(() => []);
    // A snapshot of that state, then the file changed: the snapshot must bring kept-42 back there.
    const snap = await takeSnapshot(member, { vmName: "wander-vm", label: "kept", includeStorage: true });
    expect(await settled(snap.taskId as string)).toMatchObject({ status: "succeeded" });
    expect(await settled((await requestPowerAction(member, "wander-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    await run("wander-vm", "echo changed > /root/proof; sync; echo written", /written/);
    expect(await settled((await requestPowerAction(member, "wander-vm", "poweroff")).taskId)).toMatchObject({
      status: "succeeded",
    });

    expect((await t.db.vm.findUnique({ where: { name: "wander-vm" } }))?.ip).toBeNull(); // no network here
    const there = await moveVm("cli", "wander-vm", "host-two");
    expect(there.disks.map((d) => d.disk)).toContain("root.cow");
    expect(there.snapshots).toEqual([snap.snapshotId]);
    // An address from host-two's own pool, in the row and in its agent (far-vm holds the first).
    expect(there.ip).toMatch(/^10\.78\.0\.\d+$/);
    expect((await t.db.vm.findUnique({ where: { name: "wander-vm" } }))?.ip).toBe(there.ip);
    expect((await agent.call("vm.network", { name: "wander-vm" })).ipv4).toBe(there.ip);
    // On host-two: in its store (root's), listed by its agent, gone from the panel's host.
    const snapDir = join(h2.dataDir, "snapshots", "wander-vm", snap.snapshotId as string);
    expect((await lstat(join(snapDir, "root.cow"))).uid).toBe(0);
    expect((await lstat(join(snapDir, "storage.img"))).isFile()).toBe(true);
    await expect(
      lstat(join(local.dataDir, "snapshots", "wander-vm", snap.snapshotId as string)),
    ).rejects.toThrow(/ENOENT/);
    expect((await agent.call("snapshot.list", { name: "wander-vm" })).snapshots.map((x) => x.id)).toEqual([
      snap.snapshotId,
    ]);
    const restore = await restoreSnapshot(member, {
      vmName: "wander-vm",
      snapshotId: snap.snapshotId as string,
      confirm: snap.snapshotId as string,
    });
    expect(await settled(restore.taskId)).toMatchObject({ status: "succeeded" });
    expect((await t.db.vm.findUnique({ where: { name: "wander-vm" } }))?.host).toBe("host-two");
    await expect(lstat(join(local.dataDir, "vms", "wander-vm"))).rejects.toThrow(/ENOENT/);
    expect((await lstat(join(h2.dataDir, "vms", "wander-vm", "disk", "root.cow"))).uid).not.toBe(0);
    const keysAfter = await (await import("node:fs/promises"))
      .readdir(join(h2.dataDir, "vms", "wander-vm", "host-keys"))
      .catch(() => []);
    expect(keysBefore.length).toBeGreaterThan(0);
    expect(keysAfter.sort()).toEqual(keysBefore.sort());
    expect(await settled((await requestPowerAction(member, "wander-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    await run("wander-vm", "cat /root/proof", /kept-42/);
    // The guest came up on host-two's network with that address.
    await run(
      "wander-vm",
      "ip -4 -o addr show eth0; echo ip-shown",
      new RegExp(`inet ${there.ip?.replace(/\./g, "\\.")}/24`),
    );
    expect(await settled((await requestPowerAction(member, "wander-vm", "poweroff")).taskId)).toMatchObject({
      status: "succeeded",
    });

    // Back, with both snapshots (the one taken here and the restore's safety snapshot).
    const back = await moveVm("cli", "wander-vm", "local");
    expect(back).toMatchObject({ from: "host-two", to: "local" });
    expect([...back.snapshots].sort()).toEqual([snap.snapshotId, restore.safetyId].sort());
    expect(back.ip).toBeNull(); // the panel's host has no VM network in this test
    expect((await t.db.vm.findUnique({ where: { name: "wander-vm" } }))?.ip).toBeNull();
    await expect(lstat(join(h2.dataDir, "snapshots", "wander-vm"))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(h2.dataDir, "vms", "wander-vm"))).rejects.toThrow(/ENOENT/);
    expect(await settled((await requestPowerAction(member, "wander-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    await run("wander-vm", "cat /root/proof", /kept-42/);
    const audit = await t.db.auditEvent.findMany({ where: { action: "vm.move", result: "success" } });
    expect(audit).toHaveLength(2);
  }, 420_000);

  it("draining a host moves what can move and lists what cannot, with why", async () => {
    const { drainHost } = await import("./move");
    // far-vm runs on host-two: it stays, and the drain says why.
    const drained = await drainHost("cli", "host-two");
    expect(drained.moved).toEqual([]);
    expect(drained.blocking).toEqual([{ name: "far-vm", why: expect.stringMatching(/running: stop it/) }]);
    expect((await t.db.vm.findUnique({ where: { name: "far-vm" } }))?.host).toBe("host-two");
  }, 120_000);

  it("kill -9 of the process moving a VM mid-copy: another instance adopts the move and undoes it on both hosts; nothing is lost", async () => {
    const { recoverTasks } = await import("../tasks/pipeline");
    const { readdir } = await import("node:fs/promises");
    const { taskId } = await provisionVm(admin, {
      ownerId: member.id,
      name: "halfway-vm",
      image: IMAGE,
      ...spec,
      host: "local",
    });
    expect(await settled(taskId)).toMatchObject({ status: "succeeded" });
    expect(await settled((await requestPowerAction(member, "halfway-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    // 96 MiB of data that does not compress or sparsify, so the copy takes a while.
    const before = await run(
      "halfway-vm",
      "dd if=/dev/urandom of=/data/big bs=1M count=96 2>/dev/null; sync; md5sum /data/big; echo sum-done",
      /([0-9a-f]{32})\s+\/data\/big[\s\S]*sum-done/,
    );
    const sum = before[1];
    expect(sum).toBeTruthy();
    expect(await settled((await requestPowerAction(member, "halfway-vm", "shutdown")).taskId)).toMatchObject({
      status: "succeeded",
    });

    // `zaphod vm move` as the admin runs it (its own process and heartbeat), killed once a disk
    // has started to arrive on host-two.
    const staging = join(h2.dataDir, "vms", ".incoming-halfway-vm");
    const cli = spawn("bin/zaphod", ["vm", "move", "halfway-vm", "host-two"], {
      cwd: repoRoot,
      env: { ...process.env, DATABASE_URL: t.url, ZAPHOD_AGENT_SOCKET: local.socketPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    cli.stdout.on("data", (d) => (output += d));
    cli.stderr.on("data", (d) => (output += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      cli.on("exit", (_code, signal) => resolve(signal)),
    );
    const deadline = Date.now() + 120_000;
    while ((await readdir(join(staging, "disk")).catch(() => [])).length === 0) {
      if (Date.now() > deadline || cli.exitCode !== null) throw new Error(`no disk arrived: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    cli.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const row = await t.db.task.findFirst({ where: { kind: "move", vm: { name: "halfway-vm" } } });
    expect(row).toMatchObject({ status: "running" });
    expect(row?.followerId).toMatch(/^cli@/);
    // Mid-move: marked moving on the panel's host (it will not start), staged on host-two.
    await expect(requestPowerAction(member, "halfway-vm", "start")).rejects.toThrow(/move/i);
    await expect(lstat(join(local.dataDir, "vms", "halfway-vm", "moving.json"))).resolves.toBeTruthy();

    // Another instance (this test process) adopts it once the CLI's heartbeat is stale.
    await expect
      .poll(
        async () => {
          await recoverTasks();
          return (await t.db.task.findUnique({ where: { id: row?.id } }))?.status;
        },
        { timeout: 40_000, interval: 2_000 },
      )
      .toBe("interrupted");
    const logs = await t.db.taskLog.findMany({ where: { taskId: row?.id }, orderBy: { seq: "asc" } });
    expect(logs.map((l) => l.message).join("\n")).toMatch(/Copying root\.cow|Copying storage\.img/);
    expect(logs.at(-1)?.message).toMatch(/undid the move on both hosts\. halfway-vm stays on local/);
    await expect(lstat(staging)).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(local.dataDir, "vms", "halfway-vm", "moving.json"))).rejects.toThrow(/ENOENT/);
    expect((await t.db.vm.findUnique({ where: { name: "halfway-vm" } }))?.host).toBe("local");

    // Nothing lost: it starts where it was, with its data.
    expect(await settled((await requestPowerAction(member, "halfway-vm", "start")).taskId)).toMatchObject({
      status: "succeeded",
    });
    await run("halfway-vm", "md5sum /data/big", new RegExp(`${sum}\\s+/data/big`));
    expect(await settled((await requestPowerAction(member, "halfway-vm", "poweroff")).taskId)).toMatchObject({
      status: "succeeded",
    });
  }, 300_000);
});

describe("removing a host", () => {
  it("host remove revokes the host's certificate; a pending host has none", async () => {
    const added = await addHost({ name: "host-nine", address: "127.0.0.9" });
    expect(added.token).toBeTruthy();
    expect(await removeHost("host-nine")).toEqual({ revoked: null });
    expect(await unsafeGetHost("host-nine")).toBeNull();
    expect(admin.role).toBe("admin");
  });
});
