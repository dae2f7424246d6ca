import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import {
  ConsoleCloseCode,
  type ConsoleFrame,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../../protocol/console";
import { ConsoleHub } from "./console-hub";
import { ConsoleSession, type ConsoleSessionOptions } from "./console-session";
import { startFakeAgentConsole } from "./testing/fake-agent-console";

type Extra = Partial<Omit<ConsoleSessionOptions, "browser" | "agent" | "hub">>;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A browser socket pair through a real server, and a session bridging it to `agentUrl`. */
async function bridge(agentUrl: string, extra: Extra = {}) {
  const hub = new ConsoleHub();
  const wss = new WebSocketServer({ noServer: true });
  const server: Server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const closes: { code: number; reason: string }[] = [];
  const sessionReady = new Promise<ConsoleSession>((resolve) => {
    server.on("upgrade", (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (browser) =>
        resolve(
          new ConsoleSession({
            user: { id: "u1", username: "alice", role: "member" },
            vm: { id: "v1", name: "alice", ownerId: "u1" },
            ...extra,
            browser,
            agent: new WebSocket(agentUrl),
            hub,
            onClose: (info) => closes.push(info),
          }),
        ),
      ),
    );
  });
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const frames: ConsoleFrame[] = [];
  client.on("message", (data) => frames.push(decodeConsoleFrame(new Uint8Array(data as Buffer))));
  const closed = new Promise<number>((resolve) => client.once("close", (code) => resolve(code)));
  cleanups.push(async () => {
    client.terminate();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  await once(client, "open");
  return { client, frames, closed, session: await sessionReady, closes, hub };
}

describe("ConsoleSession", () => {
  it("closes an idle console with 4002 and says why; input keeps it open", async () => {
    const agent = await startFakeAgentConsole();
    cleanups.push(() => agent.close());
    const t = await bridge(agent.url("alice"), { idleTimeoutMs: 150 });
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      t.client.send(encodeConsoleFrame({ kind: "data", bytes: Uint8Array.of(0x20) }));
    }
    expect(t.session.state).not.toBe("closed");
    expect(await t.closed).toBe(ConsoleCloseCode.idle);
    expect(t.frames.at(-1)).toEqual({
      kind: "control",
      message: { type: "closing", reason: "Closed after a long time without input." },
    });
    expect(t.hub.viewersOf("v1")).toEqual([]);
  });

  it("closes with 1011 when the agent refuses the connection", async () => {
    const probe = createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const t = await bridge(`ws://127.0.0.1:${port}/v1/vms/alice/console`);
    expect(await t.closed).toBe(ConsoleCloseCode.unavailable);
    expect(t.session.state).toBe("closed");
  });

  it("closes with 1011 when the agent does not answer in time, and holds input until it does", async () => {
    // A TCP server that accepts and never answers the WebSocket handshake.
    const silent = createServer();
    const held: Duplex[] = [];
    silent.on("upgrade", (_req, socket: Duplex) => held.push(socket));
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    cleanups.push(() => {
      for (const socket of held) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as AddressInfo).port;
    const t = await bridge(`ws://127.0.0.1:${port}/v1/vms/alice/console`, { agentConnectTimeoutMs: 150 });
    t.client.send(encodeConsoleFrame({ kind: "data", bytes: Uint8Array.of(0x61) }));
    expect(t.session.state).toBe("connecting");
    expect(await t.closed).toBe(ConsoleCloseCode.unavailable);
  });

  it("terminates a browser that stops answering pings", async () => {
    const agent = await startFakeAgentConsole();
    cleanups.push(() => agent.close());
    const t = await bridge(agent.url("alice"), { heartbeatMs: 50 });
    // ws answers pings automatically; stop reading so no pong comes back.
    t.client.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(t.session.state).toBe("closed");
  });

  it("refuses Ctrl-Alt-Del to a viewer without the power permission, with a notice", async () => {
    const agent = await startFakeAgentConsole();
    cleanups.push(() => agent.close());
    const next = agent.nextConnection();
    const t = await bridge(agent.url("alice"), { canCtrlAltDel: false });
    const conn = await next;
    t.client.send(encodeConsoleFrame({ kind: "control", message: { type: "ctrl-alt-del" } }));
    t.client.send(encodeConsoleFrame({ kind: "data", bytes: Uint8Array.of(0x61) }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(conn.received).toEqual([{ kind: "data", bytes: Uint8Array.of(0x61) }]);
    expect(t.frames).toContainEqual({
      kind: "control",
      message: { type: "notice", text: "You may not reboot this VM." },
    });
  });

  it("check 39: Ctrl-Alt-Del from the console is the panel's audited reboot (a task in the VM's history), never a bare frame to the agent", async () => {
    const agent = await startFakeAgentConsole();
    cleanups.push(() => agent.close());
    const next = agent.nextConnection();
    const asked: { userId: string; vmName: string }[] = [];
    const t = await bridge(agent.url("alice"), {
      user: { id: "u9", username: "root", role: "admin" },
      ctrlAltDel: async (who) => {
        asked.push(who);
        return asked.length === 1 ? null : "A reboot is in progress on this VM; wait for it to finish.";
      },
    });
    const conn = await next;
    t.client.send(encodeConsoleFrame({ kind: "control", message: { type: "ctrl-alt-del" } }));
    t.client.send(encodeConsoleFrame({ kind: "control", message: { type: "ctrl-alt-del" } }));
    t.client.send(encodeConsoleFrame({ kind: "data", bytes: Uint8Array.of(0x61) }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    // the admin on alice's VM is who asked; the agent got only the keystroke
    expect(asked).toEqual([
      { userId: "u9", vmName: "alice" },
      { userId: "u9", vmName: "alice" },
    ]);
    expect(conn.received).toEqual([{ kind: "data", bytes: Uint8Array.of(0x61) }]);
    expect(t.frames).toContainEqual({
      kind: "control",
      message: {
        type: "notice",
        text: "Ctrl-Alt-Del refused: A reboot is in progress on this VM; wait for it to finish.",
      },
    });
  });
});
