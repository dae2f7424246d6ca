/**
 * The forward relay for real (root): a network namespace of the test's own with an address on a
 * veth inside it and a TCP echo server in it; a Forwards listening on 127.0.0.1 carries connections
 * there through nsenter + nc. The host's namespace is touched only by listening on 127.0.0.1.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../exec";
import { Forwards } from "./forwards";
import { Relay } from "./relay";

const NS = `zt-fw-${randomBytes(3).toString("hex")}`;
const NETNS = `/run/netns/${NS}`;
const VM_IP = "10.77.0.5";
const ECHO_PORT = 7777;
const BASE_PORT = 20_000 + Math.floor(Math.random() * 20_000);

let dataDir: string;
let echo: ChildProcess | null = null;
const logs: string[] = [];

const ECHO_SERVER = `require("node:net").createServer((s) => s.pipe(s)).listen(${ECHO_PORT}, "${VM_IP}", () => console.log("ready"));`;

function newForwards(): Forwards {
  return new Forwards({
    dataDir,
    netns: NETNS,
    forwardAddress: "127.0.0.1",
    vmAddress: async (name) => (name === "alice" ? VM_IP : null),
    log: (line) => logs.push(line),
  });
}

/** Sends `data`, half-closes, and resolves with everything that came back. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = createConnection({ host: "127.0.0.1", port, allowHalfOpen: true });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on("connect", () => socket.end(data));
  });
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("relay.itest.ts runs as root (it makes a network namespace)");
  dataDir = await mkdtemp(join(tmpdir(), "zaphod-fw-"));
  await run(["ip", "netns", "add", NS]);
  await run(["ip", "-n", NS, "link", "set", "lo", "up"]);
  // The "VM": a veth pair inside the namespace (no dummy module on this kernel) with its address.
  await run(["ip", "-n", NS, "link", "add", "zt0", "type", "veth", "peer", "name", "zt1"]);
  await run(["ip", "-n", NS, "addr", "add", `${VM_IP}/24`, "dev", "zt0"]);
  await run(["ip", "-n", NS, "link", "set", "zt0", "up"]);
  await run(["ip", "-n", NS, "link", "set", "zt1", "up"]);
  const child = spawn("ip", ["netns", "exec", NS, process.execPath, "-e", ECHO_SERVER], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  echo = child;
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`echo server exited ${code}`)));
    child.stdout?.once("data", () => resolve());
  });
});

afterAll(async () => {
  if (echo?.pid) echo.kill("SIGKILL");
  await run(["ip", "netns", "delete", NS], { allowFailure: true });
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("port forwards relayed into a network namespace", () => {
  it("carries bytes both ways, in parallel, and a big transfer intact", async () => {
    const forwards = newForwards();
    await forwards.start();
    try {
      await forwards.add({ hostPort: BASE_PORT, name: "alice", vmPort: ECHO_PORT });
      expect(forwards.list()).toEqual([{ hostPort: BASE_PORT, name: "alice", vmPort: ECHO_PORT }]);
      expect((await roundTrip(BASE_PORT, Buffer.from("hello\n"))).toString()).toBe("hello\n");

      const parallel = await Promise.all(
        Array.from({ length: 16 }, (_, i) => roundTrip(BASE_PORT, Buffer.from(`conn ${i}\n`.repeat(100)))),
      );
      for (const [i, got] of parallel.entries()) expect(got.toString()).toBe(`conn ${i}\n`.repeat(100));

      const big = randomBytes(8 * 1024 * 1024);
      const t0 = performance.now();
      const got = await roundTrip(BASE_PORT, big);
      const relayMs = performance.now() - t0;
      expect(got.length).toBe(big.length);
      expect(got.equals(big)).toBe(true);

      // The same transfer with no relay, from inside the namespace (nc straight to the server).
      const t1 = performance.now();
      const direct = await run(
        ["ip", "netns", "exec", NS, process.execPath, "-e", directClient(big.length)],
        { timeoutMs: 60_000 },
      );
      const directMs = performance.now() - t1;
      console.log(
        `relay: 8 MiB echoed in ${relayMs.toFixed(0)} ms (${((2 * 8) / (relayMs / 1000)).toFixed(0)} MiB/s both ways); ` +
          `direct inside the netns (plus node start): ${directMs.toFixed(0)} ms (${direct.stdout.trim()})`,
      );
    } finally {
      await forwards.stop();
    }
  });

  it("refuses privileged, taken and in-use ports, and a VM without an address", async () => {
    const forwards = newForwards();
    await forwards.start();
    const held = await listenOn(BASE_PORT + 1);
    try {
      await expect(forwards.add({ hostPort: 80, name: "alice", vmPort: 80 })).rejects.toThrow(
        "privileged ports are refused: pick 1024–65535",
      );
      await expect(forwards.add({ hostPort: BASE_PORT, name: "alice", vmPort: 22 })).rejects.toThrow(
        `${BASE_PORT} already forwards to alice:${ECHO_PORT}`,
      );
      await expect(forwards.add({ hostPort: BASE_PORT + 1, name: "alice", vmPort: 22 })).rejects.toThrow(
        `port ${BASE_PORT + 1} is in use on this host`,
      );
      await expect(forwards.add({ hostPort: BASE_PORT + 2, name: "bob", vmPort: 22 })).rejects.toThrow(
        "bob has no network address",
      );
      expect(forwards.list().map((f) => f.hostPort)).toEqual([BASE_PORT]);
    } finally {
      held.close();
      await forwards.stop();
    }
  });

  it("keeps forwards across a new instance (root-only file); removal closes the listener", async () => {
    expect((await stat(join(dataDir, "forwards.json"))).mode & 0o777).toBe(0o600);
    const forwards = newForwards();
    await forwards.start();
    try {
      expect(forwards.forVm("alice")).toEqual([{ hostPort: BASE_PORT, name: "alice", vmPort: ECHO_PORT }]);
      expect((await roundTrip(BASE_PORT, Buffer.from("again"))).toString()).toBe("again");
      await forwards.remove(BASE_PORT);
      expect(forwards.list()).toEqual([]);
      await expect(roundTrip(BASE_PORT, Buffer.from("x"))).rejects.toThrow(/ECONNREFUSED/);
      await forwards.add({ hostPort: BASE_PORT + 3, name: "alice", vmPort: ECHO_PORT });
      await forwards.removeVm("alice");
      await expect(roundTrip(BASE_PORT + 3, Buffer.from("x"))).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      await forwards.stop();
    }
    const again = newForwards();
    await again.start();
    expect(again.list()).toEqual([]);
    await again.stop();
  });
});

/** A node client inside the namespace echoing `bytes` straight through the server. */
function directClient(bytes: number): string {
  return `const s=require("node:net").createConnection({host:"${VM_IP}",port:${ECHO_PORT},allowHalfOpen:true});
let n=0;const t=Date.now();s.on("data",c=>n+=c.length);s.on("end",()=>{console.log(n+" bytes in "+(Date.now()-t)+" ms");s.end()});
s.on("connect",()=>s.end(Buffer.alloc(${bytes})));`;
}

describe("the relay itself", () => {
  it("ends live connections when closed, closes one to a port nobody listens on, bounds its connections", async () => {
    const relay = await Relay.listen({
      address: "127.0.0.1",
      port: BASE_PORT + 4,
      netns: NETNS,
      target: async () => ({ ipv4: VM_IP, port: ECHO_PORT }),
      maxConnections: 2,
      log: (line) => logs.push(line),
    });
    const closedPort = await Relay.listen({
      address: "127.0.0.1",
      port: BASE_PORT + 5,
      netns: NETNS,
      target: async () => ({ ipv4: VM_IP, port: ECHO_PORT + 1 }),
      log: (line) => logs.push(line),
    });
    try {
      // Connect-to-first-echo time through the relay (a process per connection) against direct.
      const t0 = performance.now();
      expect((await roundTrip(BASE_PORT + 4, Buffer.from("ping"))).toString()).toBe("ping");
      console.log(
        `relay: a connection's round trip (nsenter + nc started) ${(performance.now() - t0).toFixed(1)} ms`,
      );

      expect(await refusedOrEmpty(BASE_PORT + 5)).toBe(true);

      const open = await Promise.all([openSocket(BASE_PORT + 4), openSocket(BASE_PORT + 4)]);
      expect(await refusedOrEmpty(BASE_PORT + 4)).toBe(true);
      expect(logs.some((l) => l.includes("2 connections already"))).toBe(true);
      const ended = open.map((s) => new Promise((resolve) => s.once("close", resolve)));
      await relay.close();
      await Promise.all(ended);
    } finally {
      await relay.close();
      await closedPort.close();
    }
  });

  it("connects directly when the target is in the agent's own namespace (netns null)", async () => {
    const server = createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(BASE_PORT + 6, "127.0.0.1", resolve));
    const relay = await Relay.listen({
      address: "127.0.0.1",
      port: BASE_PORT + 7,
      netns: null,
      target: async () => ({ ipv4: "127.0.0.1", port: BASE_PORT + 6 }),
      log: (line) => logs.push(line),
    });
    try {
      const big = randomBytes(4 * 1024 * 1024);
      expect((await roundTrip(BASE_PORT + 7, big)).equals(big)).toBe(true);
    } finally {
      await relay.close();
      server.close();
    }
  });
});

/** A connection through the relay that has carried one echo and stays open. */
function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("error", reject);
    socket.once("data", () => resolve(socket));
    socket.once("connect", () => socket.write("open"));
  });
}

/** A connection that is closed with no byte back (an orderly end or a reset: what was sent went nowhere). */
async function refusedOrEmpty(port: number): Promise<boolean> {
  try {
    return (await roundTrip(port, Buffer.from("x"))).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ECONNRESET";
  }
}
