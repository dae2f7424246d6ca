import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import {
  CONSOLE_LIMITS,
  type ConsoleFrame,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../../../protocol/console";

/**
 * A stand-in for the agent's `GET /v1/vms/<name>/console` for unit tests and benches of the web
 * tier: replays a boot log, sends `replay-end`, then live output; honours ACKs like the real agent
 * (never more than `windowBytes` unacknowledged), unless told to misbehave.
 */
export interface FakeAgentConnection {
  vmName: string;
  socket: WebSocket;
  received: ConsoleFrame[];
  /** DATA payload bytes sent and not yet acknowledged. */
  inFlight: number;
  sentBytes: number;
  ackedBytes: number;
  push(text: string | Uint8Array): void;
}

export interface FakeAgentOptions {
  replay?: string;
  windowBytes?: number;
  /** When false, floods ignore ACKs (a broken agent), to test the web tier's own bound. */
  honourAcks?: boolean;
}

export async function startFakeAgentConsole(options: FakeAgentOptions = {}) {
  const windowBytes = options.windowBytes ?? CONSOLE_LIMITS.flowHighWaterBytes;
  const honourAcks = options.honourAcks ?? true;
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: CONSOLE_LIMITS.maxFrameBytes });
  await once(wss, "listening");
  const port = (wss.address() as AddressInfo).port;
  const connections: FakeAgentConnection[] = [];
  const listeners = new Set<(c: FakeAgentConnection) => void>();
  const floods = new Map<FakeAgentConnection, { left: number; chunk: Uint8Array }>();

  const pump = (conn: FakeAgentConnection) => {
    const flood = floods.get(conn);
    if (!flood || conn.socket.readyState !== WebSocket.OPEN) return;
    while (flood.left > 0) {
      if (honourAcks && conn.inFlight + flood.chunk.length > windowBytes) return; // resumed by an ACK
      if (!honourAcks && conn.socket.bufferedAmount > 4 * 1024 * 1024) {
        setImmediate(() => pump(conn));
        return;
      }
      conn.push(flood.chunk);
      flood.left -= flood.chunk.length;
    }
    floods.delete(conn);
  };

  wss.on("connection", (socket, req) => {
    const vmName = /^\/v1\/vms\/([^/]+)\/console$/.exec(req.url ?? "")?.[1] ?? "";
    const conn: FakeAgentConnection = {
      vmName,
      socket,
      received: [],
      inFlight: 0,
      sentBytes: 0,
      ackedBytes: 0,
      push(text) {
        const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
        conn.inFlight += bytes.length;
        conn.sentBytes += bytes.length;
        socket.send(encodeConsoleFrame({ kind: "data", bytes }));
      },
    };
    connections.push(conn);
    socket.on("error", () => {});
    socket.on("message", (data) => {
      const frame = decodeConsoleFrame(new Uint8Array(data as Buffer));
      conn.received.push(frame);
      if (frame.kind === "ack") {
        conn.inFlight -= frame.bytes;
        conn.ackedBytes += frame.bytes;
        pump(conn);
      }
    });
    socket.send(encodeConsoleFrame({ kind: "control", message: { type: "hello", vm: vmName } }));
    if (options.replay) conn.push(options.replay);
    socket.send(encodeConsoleFrame({ kind: "control", message: { type: "replay-end" } }));
    for (const listener of listeners) listener(conn);
  });

  return {
    port,
    url: (vmName: string) => `ws://127.0.0.1:${port}/v1/vms/${vmName}/console`,
    connections,
    /** Resolves with the next connection the fake agent accepts. */
    nextConnection: () =>
      new Promise<FakeAgentConnection>((resolve) => {
        const listener = (c: FakeAgentConnection) => {
          listeners.delete(listener);
          resolve(c);
        };
        listeners.add(listener);
      }),
    /** Sends `totalBytes` of `y\n` lines in `chunkBytes` DATA frames, as fast as the window allows. */
    flood(conn: FakeAgentConnection, totalBytes: number, chunkBytes = 16 * 1024) {
      floods.set(conn, { left: totalBytes, chunk: new TextEncoder().encode("y\n".repeat(chunkBytes / 2)) });
      pump(conn);
    },
    stopFlood(conn: FakeAgentConnection) {
      floods.delete(conn);
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export type FakeAgentConsole = Awaited<ReturnType<typeof startFakeAgentConsole>>;
