import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { consoleProtocols } from "../../../components/console/console-connection";
import {
  CONSOLE_LIMITS,
  ConsoleCloseCode,
  type ConsoleControl,
  type ConsoleFrame,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../../protocol/console";
import { ConsoleHub } from "./console-hub";
import type { ConsoleSession } from "./console-session";
import {
  type FakeAgentConnection,
  type FakeAgentConsole,
  startFakeAgentConsole,
} from "./testing/fake-agent-console";
import { createTicketService, MemoryTicketStore } from "./tickets";
import { type ConsoleAccess, createConsoleUpgradeHandler } from "./upgrade";

const users = {
  alice: { id: "u-alice", username: "alice", role: "member" as const, active: true as boolean },
  bob: { id: "u-bob", username: "bob", role: "member" as const, active: true },
  carol: { id: "u-carol", username: "carol", role: "member" as const, active: true },
  root: { id: "u-root", username: "root", role: "admin" as const, active: true },
  sam: { id: "u-sam", username: "sam", role: "member" as const, active: false },
};
const vms = {
  "v-alice": { id: "v-alice", name: "alice", ownerId: "u-alice" },
  "v-bob": { id: "v-bob", name: "bob", ownerId: "u-bob" },
  "v-carol": { id: "v-carol", name: "carol", ownerId: "u-carol" },
  "v-sam": { id: "v-sam", name: "sam", ownerId: "u-sam" },
};

async function loadUserAndVm({
  userId,
  vmId,
}: {
  userId: string;
  vmId: string;
}): Promise<ConsoleAccess | null> {
  const user = Object.values(users).find((u) => u.id === userId);
  const vm = vms[vmId as keyof typeof vms];
  if (!user?.active || !vm || (user.role !== "admin" && vm.ownerId !== user.id)) return null;
  const { active: _, ...rest } = user;
  return { user: rest, vm, canCtrlAltDel: true };
}

type Attempt = { status: number } | { ws: WebSocket; frames: ConsoleFrame[] };

let agent: FakeAgentConsole;
let server: Server;
let origin: string;
let hub: ConsoleHub;
let sessions: ConsoleSession[];
let adminOpened: unknown[];
let logLines: string[];
const tickets = createTicketService({ store: new MemoryTicketStore() });
const clients: WebSocket[] = [];

beforeAll(async () => {
  agent = await startFakeAgentConsole({ replay: "fsck: /dev/ubda: UNEXPECTED INCONSISTENCY\r\n" });
});
afterAll(async () => {
  await agent.close();
});

beforeEach(async () => {
  sessions = [];
  adminOpened = [];
  logLines = [];
  hub = new ConsoleHub({ maxPerUser: 2, maxTotal: 4, onAdminOpened: (e) => adminOpened.push(e) });
  server = createServer((_req, res) => res.writeHead(404).end());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  server.on(
    "upgrade",
    createConsoleUpgradeHandler({
      allowedOrigins: [origin, "https://panel.example", "http://[::1]:8080"],
      consumeTicket: tickets.consumeTicket,
      loadUserAndVm,
      openAgentConsole: (vmName) => new WebSocket(agent.url(vmName)),
      hub,
      session: { recheckAccessMs: 100 },
      onSession: (s) => sessions.push(s),
      log: (line) => logLines.push(line),
    }),
  );
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  hub.closeAll();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function ticketFor(user: keyof typeof users, vmId: keyof typeof vms) {
  return (await tickets.issueTicket({ userId: users[user].id, vmId })).token;
}

/** `ticket` goes in Sec-WebSocket-Protocol as the page sends it; the rest in the query string. */
function attempt(
  { ticket, ...query }: Record<string, string>,
  headers: { origin?: string | null; protocols?: string[] } = {},
): Promise<Attempt> {
  const url = `${origin.replace("http", "ws")}/ws/console?${new URLSearchParams(query)}`;
  const protocols = headers.protocols ?? (ticket === undefined ? [] : consoleProtocols(ticket));
  const ws = new WebSocket(url, protocols, {
    ...(headers.origin === null ? {} : { origin: headers.origin ?? origin }),
    maxPayload: 1024 * 1024,
  });
  clients.push(ws);
  const frames: ConsoleFrame[] = [];
  ws.on("message", (data) => frames.push(decodeConsoleFrame(data as Buffer)));
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws, frames }));
    ws.once("unexpected-response", (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once("error", reject);
  });
}

async function open(user: keyof typeof users, vmId: keyof typeof vms) {
  const result = await attempt({ ticket: await ticketFor(user, vmId) });
  if (!("ws" in result)) throw new Error(`refused with ${result.status}`);
  return result;
}

const text = (frames: ConsoleFrame[]) =>
  frames.map((f) => (f.kind === "data" ? new TextDecoder().decode(f.bytes) : "")).join("");
const controls = (frames: ConsoleFrame[]) =>
  frames.flatMap((f) => (f.kind === "control" ? [f.message] : [])) as ConsoleControl[];

async function until(check: () => boolean, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const closed = (ws: WebSocket) =>
  new Promise<{ code: number }>((resolve) => ws.once("close", (code) => resolve({ code })));

describe("console upgrade: refusals before the upgrade", () => {
  it.each([
    ["missing", null],
    ["null", "null"],
    ["another host", "https://evil.example"],
    ["suffix confusion", "https://evil-panel.example"],
    ["allowed host as a subdomain", "https://panel.example.evil.example"],
    ["wrong scheme", "http://panel.example"],
    ["wrong port", "https://panel.example:8443"],
    ["trailing slash", "https://panel.example/"],
    ["upper case", "https://PANEL.example"],
    ["ipv6 wrong port", "http://[::1]:8081"],
  ])("check 14: refuses Origin %s with 403 and no agent connection", async (_name, badOrigin) => {
    const before = agent.connections.length;
    const ticket = await ticketFor("alice", "v-alice");
    expect(await attempt({ ticket }, { origin: badOrigin })).toEqual({ status: 403 });
    expect(agent.connections.length).toBe(before);
    // The Origin is checked first: the ticket was not burnt.
    expect((await attempt({ ticket })) as object).toHaveProperty("ws");
  });

  it("check 14: accepts every allowed origin, IPv6 included", async () => {
    for (const allowed of ["https://panel.example", "http://[::1]:8080"]) {
      expect(
        await attempt({ ticket: await ticketFor("alice", "v-alice") }, { origin: allowed }),
      ).toHaveProperty("ws");
    }
  });

  it("check 16: refuses a missing, unknown, reused, expired-looking or foreign ticket", async () => {
    const before = agent.connections.length;
    expect(await attempt({})).toEqual({ status: 401 });
    expect(await attempt({ ticket: "A".repeat(43) })).toEqual({ status: 401 });
    const used = await ticketFor("alice", "v-alice");
    await tickets.consumeTicket(used);
    expect(await attempt({ ticket: used })).toEqual({ status: 401 });
    // A ticket for Bob's VM presented for Alice's VM.
    expect(await attempt({ ticket: await ticketFor("bob", "v-bob"), vm: "alice" })).toEqual({ status: 403 });
    // A ticket minted before the user was suspended, and one for a VM the user does not own.
    expect(await attempt({ ticket: await ticketFor("sam", "v-sam") })).toEqual({ status: 403 });
    expect(await attempt({ ticket: await ticketFor("bob", "v-alice") })).toEqual({ status: 403 });
    expect(agent.connections.length).toBe(before);
  });

  it("check 39: one info line per refused upgrade, saying why, and never the ticket", async () => {
    const used = await ticketFor("alice", "v-alice");
    await tickets.consumeTicket(used);
    const foreign = await ticketFor("bob", "v-alice");
    const good = await ticketFor("alice", "v-alice");
    expect(await attempt({}, { origin: "https://evil.example" })).toEqual({ status: 403 });
    expect(await attempt({})).toEqual({ status: 401 });
    expect(await attempt({ ticket: used })).toEqual({ status: 401 });
    expect(await attempt({ ticket: foreign, vm: "alice" })).toEqual({ status: 403 });
    await open("alice", "v-alice");
    expect("ws" in (await attempt({ ticket: good }))).toBe(true);
    await until(() => logLines.length >= 4);
    const refused = logLines.filter((l) => / refused /.test(l));
    expect(refused).toHaveLength(4);
    expect(refused.map((l) => l.match(/refused (\d+)/)?.[1])).toEqual(["403", "401", "401", "403"]);
    expect(refused[0]).toMatch(/origin/);
    for (const line of logLines) {
      for (const t of [used, foreign, good]) expect(line).not.toContain(t);
      expect(line).not.toContain("ticket.");
    }
  });

  it("check 16: takes the ticket only from Sec-WebSocket-Protocol and echoes back only the protocol name", async () => {
    const before = agent.connections.length;
    // In the URL (where access logs would keep it): refused, and the ticket stays unused.
    const ticket = await ticketFor("alice", "v-alice");
    const url = `${origin.replace("http", "ws")}/ws/console?ticket=${ticket}`;
    const inUrl = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, { origin });
      clients.push(ws);
      ws.on("error", () => {});
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.once("open", () => resolve(101));
    });
    expect(inUrl).toBe(401);
    // The ticket without the console protocol, or two tickets at once: refused.
    expect(await attempt({}, { protocols: [`ticket.${ticket}`] })).toEqual({ status: 401 });
    const other = await ticketFor("alice", "v-alice");
    expect(
      await attempt({}, { protocols: ["zaphod.console", `ticket.${ticket}`, `ticket.${other}`] }),
    ).toEqual({ status: 401 });
    expect(agent.connections.length).toBe(before);
    const result = await attempt({ ticket });
    if (!("ws" in result)) throw new Error(`refused with ${result.status}`);
    expect(result.ws.protocol).toBe("zaphod.console");
  });

  it("check 16: lets exactly one of two parallel upgrades with one ticket through", async () => {
    const ticket = await ticketFor("alice", "v-alice");
    const results = await Promise.all([attempt({ ticket }), attempt({ ticket })]);
    expect(results.filter((r) => "ws" in r)).toHaveLength(1);
    expect(results.filter((r) => "status" in r)).toEqual([{ status: 401 }]);
  });

  it("check 20: enforces the per-user and global caps and recovers", async () => {
    const a1 = await open("alice", "v-alice");
    await open("alice", "v-alice");
    expect(await attempt({ ticket: await ticketFor("alice", "v-alice") })).toEqual({ status: 429 });
    await open("bob", "v-bob");
    await open("root", "v-bob");
    expect(await attempt({ ticket: await ticketFor("carol", "v-carol") })).toEqual({ status: 429 });
    const gone = closed(a1.ws);
    a1.ws.close();
    await gone;
    await until(() => hub.openSlots === 3);
    expect(await attempt({ ticket: await ticketFor("carol", "v-carol") })).toHaveProperty("ws");
  });
});

describe("check 18: console upgrade: handshake abuse", () => {
  async function rawUpgrade(path: string, headers: Record<string, string>): Promise<string> {
    const { port } = new URL(origin);
    const socket = connect(Number(port), "127.0.0.1");
    await once(socket, "connect");
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
    ];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    let reply = "";
    socket.on("data", (d) => {
      reply += d.toString("latin1");
    });
    await once(socket, "close");
    return reply.split("\r\n")[0] ?? "";
  }

  it("refuses a bad Sec-WebSocket-Key after the ticket, releases the slot and opens no agent connection", async () => {
    const before = agent.connections.length;
    const ticket = await ticketFor("alice", "v-alice");
    const status = await rawUpgrade("/ws/console", {
      Origin: origin,
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "not a key",
      "Sec-WebSocket-Protocol": `zaphod.console, ticket.${ticket}`,
    });
    expect(status).toBe("HTTP/1.1 400 Bad Request");
    await until(() => hub.openSlots === 0);
    expect(agent.connections.length).toBe(before);
  });

  it("refuses an oversized Sec-WebSocket-Protocol before reading a ticket from it", async () => {
    const ticket = await ticketFor("alice", "v-alice");
    const status = await rawUpgrade("/ws/console", {
      Origin: origin,
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Protocol": `zaphod.console, ticket.${ticket}, ${"x".repeat(8000)}`,
    });
    expect(status).toBe("HTTP/1.1 401 Unauthorized");
    expect(hub.openSlots).toBe(0);
  });

  it("check 20: shrugs off a flood of unauthenticated upgrades while an open console keeps working", async () => {
    const nextAgent = agent.nextConnection();
    const { frames } = await open("alice", "v-alice");
    const conn = await nextAgent;
    const before = agent.connections.length;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        attempt(i % 2 ? {} : { ticket: "A".repeat(43) }, { origin: i % 3 ? origin : "https://evil.example" }),
      ),
    );
    expect(results.every((r) => "status" in r && (r.status === 401 || r.status === 403))).toBe(true);
    expect(agent.connections.length).toBe(before);
    expect(hub.openSlots).toBe(1);
    conn.push("still here\r\n");
    await until(() => text(frames).includes("still here"));
  });
});

describe("console session", () => {
  it("replays, then goes live; input and resize reach the agent", async () => {
    const nextAgent = agent.nextConnection();
    const { ws, frames } = await open("alice", "v-alice");
    const conn = await nextAgent;
    expect(conn.vmName).toBe("alice");
    await until(() => controls(frames).some((m) => m.type === "replay-end"));
    const replayEnd = frames.findIndex((f) => f.kind === "control" && f.message.type === "replay-end");
    expect(text(frames.slice(0, replayEnd))).toBe("fsck: /dev/ubda: UNEXPECTED INCONSISTENCY\r\n");
    conn.push("live output\r\n");
    await until(() => text(frames).includes("live output"));
    expect(sessions[0]?.state).toBe("live");

    ws.send(encodeConsoleFrame({ kind: "data", bytes: new TextEncoder().encode("y\r") }));
    ws.send(encodeConsoleFrame({ kind: "resize", cols: 132, rows: 43 }));
    ws.send(encodeConsoleFrame({ kind: "control", message: { type: "ctrl-alt-del" } }));
    await until(() => conn.received.length === 3);
    expect(conn.received).toEqual([
      { kind: "data", bytes: new TextEncoder().encode("y\r") },
      { kind: "resize", cols: 132, rows: 43 },
      { kind: "control", message: { type: "ctrl-alt-del" } },
    ]);
  });

  it.each([
    [
      "a frame over maxPayload",
      () => new Uint8Array(CONSOLE_LIMITS.maxFrameBytes + 1),
      ConsoleCloseCode.tooBig,
    ],
    [
      "input over maxInputBytes",
      () => encodeConsoleFrame({ kind: "data", bytes: new Uint8Array(16 * 1024 + 1) }),
      ConsoleCloseCode.tooBig,
    ],
    ["a text frame", () => "hello", ConsoleCloseCode.unsupportedData],
    ["a resize to 0 columns", () => Uint8Array.from([1, 0, 0, 0, 24]), ConsoleCloseCode.unsupportedData],
    [
      "a resize to 100000 columns",
      () => Uint8Array.from([1, 0x86, 0xa0, 0, 24]),
      ConsoleCloseCode.unsupportedData,
    ],
    ["bad JSON", () => Uint8Array.from([3, 0x7b]), ConsoleCloseCode.unsupportedData],
    ["an unknown kind", () => Uint8Array.from([9, 1]), ConsoleCloseCode.unsupportedData],
    [
      "a server-only control",
      () => encodeConsoleFrame({ kind: "control", message: { type: "replay-end" } }),
      ConsoleCloseCode.policy,
    ],
  ])("check 17: closes on %s and forwards nothing of it", async (_name, frame, code) => {
    const nextAgent = agent.nextConnection();
    const { ws } = await open("alice", "v-alice");
    const conn = await nextAgent;
    const gone = closed(ws);
    ws.send(frame());
    expect((await gone).code).toBe(code);
    expect(conn.received).toEqual([]);
    await until(() => conn.socket.readyState === WebSocket.CLOSED && hub.openSlots === 0);
  });

  it("shows viewers, tells the member when an admin opens their console, and revokes", async () => {
    const member = await open("alice", "v-alice");
    await until(() => controls(member.frames).some((m) => m.type === "viewers"));
    const admin = await open("root", "v-alice");
    await until(() => controls(member.frames).some((m) => m.type === "notice"));
    expect(controls(member.frames)).toContainEqual({
      type: "notice",
      text: "Admin root opened this console.",
    });
    await until(() => controls(member.frames).some((m) => m.type === "viewers" && m.viewers.length === 2));
    const lastViewers = controls(member.frames)
      .filter((m) => m.type === "viewers")
      .at(-1);
    expect(lastViewers?.type === "viewers" && lastViewers.viewers.map((v) => [v.user, v.role])).toEqual([
      ["alice", "member"],
      ["root", "admin"],
    ]);
    expect(adminOpened).toEqual([
      { adminUserId: "u-root", adminUsername: "root", vmId: "v-alice", vmOwnerId: "u-alice" },
    ]);

    const gone = closed(member.ws);
    expect(hub.closeUser("u-alice")).toBe(1);
    expect((await gone).code).toBe(ConsoleCloseCode.revoked);
    expect(controls(member.frames).at(-1)).toEqual({
      type: "closing",
      reason: "Access to this console was revoked.",
    });
    await until(() =>
      controls(admin.frames).some(
        (m) => m.type === "viewers" && m.viewers.length === 1 && m.viewers[0]?.user === "root",
      ),
    );
  });

  it("check 7: closes within the recheck interval when the user is suspended elsewhere (no closeUser call)", async () => {
    const { ws, frames } = await open("alice", "v-alice");
    const gone = closed(ws);
    users.alice.active = false;
    try {
      expect((await gone).code).toBe(ConsoleCloseCode.revoked);
      expect(controls(frames).at(-1)).toEqual({
        type: "closing",
        reason: "Access to this console was revoked.",
      });
    } finally {
      users.alice.active = true;
    }
  });

  it("closes the browser with 1011 when the agent console ends", async () => {
    const nextAgent = agent.nextConnection();
    const { ws } = await open("alice", "v-alice");
    const conn = await nextAgent;
    const gone = closed(ws);
    conn.socket.close();
    expect((await gone).code).toBe(ConsoleCloseCode.unavailable);
  });

  it("answers pings itself", async () => {
    const { ws, frames } = await open("alice", "v-alice");
    ws.send(encodeConsoleFrame({ kind: "control", message: { type: "ping", t: 42 } }));
    await until(() => controls(frames).some((m) => m.type === "pong"));
    expect(controls(frames)).toContainEqual({ type: "pong", t: 42 });
  });
});

describe("console flow control", () => {
  const dataBytes = (frames: ConsoleFrame[]) =>
    frames.reduce((n, f) => n + (f.kind === "data" ? f.bytes.length : 0), 0);
  const ack = (ws: WebSocket, bytes: number) => ws.send(encodeConsoleFrame({ kind: "ack", bytes }));

  it("stops at the window without ACKs and resumes on ACK; ACKs are clamped to what was sent", async () => {
    const nextAgent = agent.nextConnection();
    const { ws, frames } = await open("alice", "v-alice");
    const conn: FakeAgentConnection = await nextAgent;
    await until(() => controls(frames).some((m) => m.type === "replay-end"));
    const replayed = dataBytes(frames);
    ack(ws, replayed);
    await until(() => conn.inFlight === 0);

    agent.flood(conn, 4 * 1024 * 1024);
    await until(() => dataBytes(frames) - replayed >= CONSOLE_LIMITS.flowHighWaterBytes - 16 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(dataBytes(frames) - replayed).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes);
    expect(sessions[0]!.bufferedToBrowser).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes);

    // A client acknowledging more than it received must not widen the agent's window.
    const got = dataBytes(frames) - replayed;
    ack(ws, 0xffffffff);
    await until(() => conn.ackedBytes >= replayed + got);
    expect(conn.ackedBytes).toBe(replayed + got);

    // Acking as we go drains the whole flood; Ctrl-C typed during it reaches the agent at once.
    let acked = replayed + got;
    const drain = setInterval(() => {
      const seen = dataBytes(frames);
      if (seen > acked) ack(ws, seen - acked);
      acked = seen;
    }, 2);
    try {
      await until(() => dataBytes(frames) - replayed > 1024 * 1024);
      const sentAt = performance.now();
      ws.send(encodeConsoleFrame({ kind: "data", bytes: Uint8Array.of(3) }));
      await until(() => conn.received.some((f) => f.kind === "data" && f.bytes[0] === 3));
      expect(performance.now() - sentAt).toBeLessThan(200);
      await until(() => dataBytes(frames) - replayed === 4 * 1024 * 1024, 10_000);
    } finally {
      clearInterval(drain);
    }
  });

  it("check 19: bounds its own buffer when an agent ignores ACKs and the browser stops reading", async () => {
    const rogue = await startFakeAgentConsole({ honourAcks: false });
    try {
      const handler = createConsoleUpgradeHandler({
        allowedOrigins: [origin],
        consumeTicket: tickets.consumeTicket,
        loadUserAndVm,
        openAgentConsole: (vmName) => new WebSocket(rogue.url(vmName)),
        hub,
        onSession: (s) => sessions.push(s),
      });
      server.removeAllListeners("upgrade");
      server.on("upgrade", handler);
      const nextAgent = rogue.nextConnection();
      const { ws, frames } = await open("alice", "v-alice");
      const conn = await nextAgent;
      await until(() => controls(frames).some((m) => m.type === "replay-end"));
      ws.pause(); // a browser whose socket stopped draining
      const session = sessions[0]!;
      let peak = 0;
      const sample = setInterval(() => {
        peak = Math.max(peak, session.bufferedToBrowser);
      }, 1);
      rogue.flood(conn, 32 * 1024 * 1024);
      await until(() => conn.sentBytes > 8 * 1024 * 1024 || conn.socket.bufferedAmount > 1024 * 1024, 5000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      clearInterval(sample);
      peak = Math.max(peak, session.bufferedToBrowser);
      // One window plus at most the frames already parsed from one read of the agent's socket.
      expect(peak).toBeLessThanOrEqual(CONSOLE_LIMITS.flowHighWaterBytes + 2 * CONSOLE_LIMITS.maxFrameBytes);
      rogue.stopFlood(conn);
      const before = dataBytes(frames);
      ws.resume();
      await until(() => dataBytes(frames) > before + 1024 * 1024, 5000);
    } finally {
      await rogue.close();
    }
  });
});
