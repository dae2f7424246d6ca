/**
 * The agent's socket: `POST /v1/rpc` (one zod union of verbs), `GET /v1/events` and
 * `GET /v1/vms/<name>/console` (WebSockets). Every message is validated again here.
 */

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import {
  AGENT_LIMITS,
  AGENT_PATHS,
  type AgentError,
  type AgentReply,
  AgentRequest,
  CAPABILITIES,
  HTTP_STATUS_BY_CODE,
  type MoveDisk,
  type MoveSnapshotFile,
  type Op,
  PROTOCOL_VERSION,
  REBOOT_DEFAULTS,
  type ResultOf,
  type TaskInfo,
} from "../protocol/agent";
import {
  CONSOLE_LIMITS,
  ConsoleFrameError,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../protocol/console";
import { isSlug } from "../protocol/names";
import { actorLogField, assertActorMayAct } from "./actor";
import { currentBootLog, sendBootLog } from "./boot-log";
import { ConsoleHub } from "./console-hub";
import { ConsoleSession } from "./console-session";
import { AgentFailure, toAgentError } from "./errors";
import { AGENT_VERSION, type AgentHandlers, createHandlers, dispatch } from "./handlers";
import type { SnapshotManager } from "./snapshots";
import type { TlsListener } from "./tls";
import { captureScreen, flushConsoleInput } from "./tmux";
import type { Runtime, VmManager } from "./vm-manager";

export { AGENT_VERSION } from "./handlers";

/** After an accepted power verb, console input is refused this long (see ConsoleHub.dropInput). */
const POWER_INPUT_HOLD_MS = 3_000;

interface CachedReply {
  body: string;
  status: number;
  reply: Promise<AgentReply>;
}

export class AgentServer {
  readonly http: Server;
  private eventsWss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private consoleWss = new WebSocketServer({ noServer: true, maxPayload: CONSOLE_LIMITS.maxFrameBytes });
  private replies = new Map<string, CachedReply>();
  private hubs = new Map<string, ConsoleHub>();
  private handlers: AgentHandlers;
  /** The mutual-TLS listener (tls.ts) when the agent has one: host.trust updates its CRL. */
  trust: TlsListener | null = null;

  constructor(
    private manager: VmManager,
    private log: (line: string) => void = (line) => console.error(line),
    snapshots: SnapshotManager | null = null,
  ) {
    this.handlers = createHandlers({
      manager,
      snapshots,
      droppingInput: (name, task) => this.droppingInput(name, task),
      trust: () => this.trust,
    });
    // A reboot's own hard reset (its countdown ended) is a power action too.
    manager.holdConsoleInput = (name) => this.holdInput(name);
    this.http = createServer();
    this.attach(this.http);
  }

  /** Serves the same verbs, events and consoles on another listener (the mutual-TLS one). */
  attach(server: Server | HttpsServer): void {
    server.on("request", (req, res) => void this.onRequest(req, res));
    server.on("upgrade", (req, socket, head) => void this.onUpgrade(req, socket, head));
    server.on("clientError", (_error, socket) => socket.destroy());
    server.headersTimeout = 10_000;
    // A disk or an image in transit may take minutes as a whole: no limit on the whole request,
    // but a connection idle for a minute (a stalled body, a silent client) is closed.
    server.requestTimeout = 0;
    server.timeout = 60_000;
  }

  // ── RPC ───────────────────────────────────────────────────────────────────────────────────

  private send(res: ServerResponse, status: number, reply: AgentReply): void {
    const body = JSON.stringify(reply);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  private fail(res: ServerResponse, id: string | null, error: AgentError, status?: number): void {
    this.log(`rpc op=? id=${id ?? "-"} refused code=${error.code} (${error.message})`);
    this.send(res, status ?? HTTP_STATUS_BY_CODE[error.code], { v: PROTOCOL_VERSION, id, ok: false, error });
  }

  /** Images and disks between hosts (transfer.ts): GET sends, PUT receives; errors as RPC errors. */
  private async onTransfer(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = req.url ?? "";
    const image = AGENT_PATHS.imagePattern.exec(url);
    const disk = image ? null : AGENT_PATHS.diskPattern.exec(url);
    const snap = image || disk ? null : AGENT_PATHS.snapshotFilePattern.exec(url);
    const boot = image || disk || snap ? null : AGENT_PATHS.bootLogPattern.exec(url);
    if (boot?.[1] && boot[2]) {
      try {
        if (req.method !== "GET") throw new AgentFailure("not-found", "unknown path");
        await sendBootLog(await this.manager.load(boot[1]), Number(boot[2]), res);
      } catch (error) {
        const agentError = toAgentError(error);
        if (res.headersSent) res.destroy();
        else this.fail(res, null, agentError);
      }
      return true;
    }
    if (!image && !disk && !snap) return false;
    const t = this.manager.transfers;
    const started = Date.now();
    const what = image
      ? `image=${image[1]}`
      : disk
        ? `vm=${disk[1]} disk=${disk[2]}`
        : `vm=${snap?.[1]} snapshot=${snap?.[2]} file=${snap?.[3]}`;
    try {
      if (req.method === "GET") {
        if (image?.[1]) await t.sendImage(image[1], res);
        else if (disk?.[1] && disk[2]) await t.sendDisk(disk[1], disk[2] as MoveDisk, res);
        else if (snap?.[1] && snap[2] && snap[3])
          await t.sendSnapshotFile(snap[1], snap[2], snap[3] as MoveSnapshotFile, res);
        this.log(`transfer send ${what} ok ms=${Date.now() - started}`);
        return true;
      }
      if (req.method !== "PUT") throw new AgentFailure("not-found", "unknown path");
      const result = image?.[1]
        ? await t.receiveImage(image[1], req)
        : disk
          ? await t.receiveDisk(disk[1] ?? "", disk[2] as MoveDisk, req)
          : await t.receiveSnapshotFile(snap?.[1] ?? "", snap?.[2] ?? "", snap?.[3] as MoveSnapshotFile, req);
      this.log(`transfer receive ${what} ok ms=${Date.now() - started}`);
      this.send(res, 200, { v: PROTOCOL_VERSION, id: null, ok: true, result } as unknown as AgentReply);
    } catch (error) {
      req.resume();
      const agentError = toAgentError(error);
      this.log(`transfer ${what} error=${agentError.code} (${agentError.message})`);
      if (res.headersSent) res.destroy();
      else
        this.send(res, HTTP_STATUS_BY_CODE[agentError.code], {
          v: PROTOCOL_VERSION,
          id: null,
          ok: false,
          error: agentError,
        });
    }
    return true;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (await this.onTransfer(req, res)) return;
    if (req.url !== AGENT_PATHS.rpc || req.method !== "POST") {
      return this.fail(res, null, { code: "not-found", message: "unknown path" });
    }
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > AGENT_LIMITS.maxRequestBytes) {
      req.resume();
      res.setHeader("connection", "close");
      return this.fail(res, null, { code: "invalid-request", message: "request too large" }, 413);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > AGENT_LIMITS.maxRequestBytes) {
        tooLarge = true;
        break;
      }
      chunks.push(chunk as Buffer);
    }
    if (tooLarge) {
      res.setHeader("connection", "close");
      this.fail(res, null, { code: "invalid-request", message: "request too large" }, 413);
      req.destroy();
      return;
    }
    const body = Buffer.concat(chunks).toString("utf8");
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return this.fail(res, null, { code: "invalid-request", message: "body is not JSON" });
    }
    const parsed = AgentRequest.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue ? `${issue.path.join(".") || "request"}: ${issue.message}` : "invalid";
      const id =
        typeof (json as { id?: unknown })?.id === "string" ? (json as { id: string }).id.slice(0, 64) : null;
      return this.fail(res, id && /^[0-9a-f-]{36}$/.test(id) ? id : null, {
        code: "invalid-request",
        message: where.slice(0, 300),
      });
    }
    const request = parsed.data;
    const cached = this.replies.get(request.id);
    if (cached) {
      if (cached.body !== JSON.stringify({ op: request.op, args: request.args, actor: request.actor })) {
        return this.fail(res, request.id, {
          code: "invalid-request",
          message: "request id reused for another request",
        });
      }
      return this.send(res, cached.status, await cached.reply);
    }
    const started = Date.now();
    const entry: CachedReply = {
      body: JSON.stringify({ op: request.op, args: request.args, actor: request.actor }),
      status: 200,
      reply: this.dispatch(request).then(
        (result) => ({ v: PROTOCOL_VERSION, id: request.id, ok: true as const, result }) as AgentReply,
        (error) => {
          if (!(error instanceof AgentFailure)) this.log(`rpc ${request.op}: ${(error as Error).stack}`);
          const agentError = toAgentError(error);
          entry.status = HTTP_STATUS_BY_CODE[agentError.code];
          return { v: PROTOCOL_VERSION, id: request.id, ok: false as const, error: agentError };
        },
      ),
    };
    this.replies.set(request.id, entry);
    while (this.replies.size > AGENT_LIMITS.idempotencyCacheSize) {
      this.replies.delete(this.replies.keys().next().value as string);
    }
    const reply = await entry.reply;
    const vm = "name" in request.args ? ` vm=${request.args.name}` : "";
    const who = ` ${actorLogField(request.actor)}`;
    this.log(
      `rpc op=${request.op}${vm}${who} id=${request.id} ${reply.ok ? "ok" : `error=${reply.error.code} (${reply.error.message})`} ms=${Date.now() - started}`,
    );
    this.send(res, entry.status, reply);
  }

  /** The actor check (the agent's second opinion), then the verb's handler. */
  private async dispatch(request: AgentRequest): Promise<ResultOf[Op]> {
    const actor = request.actor;
    if (actor && "name" in request.args && request.args.name) {
      const owner =
        request.op === "vm.create"
          ? request.args.owner
          : ((await this.manager.runtimeOrNull(request.args.name))?.config.owner ?? null);
      assertActorMayAct(actor, owner);
    }
    return dispatch(this.handlers, request.op, request.args, { id: request.id, actor });
  }

  /**
   * A power verb was accepted: keys still queued for the old boot are not typed into the next.
   * The hold lasts until the verb's task ends, at most POWER_INPUT_HOLD_MS: a reset that is back
   * at the login prompt sooner takes what the member types there (measured: a fixed 3 s hold
   * refused the 'root' typed at the prompt of a 2 s hard reset on a quiet host).
   */
  private droppingInput(name: string, task: TaskInfo): TaskInfo {
    const stop = new AbortController();
    this.holdInput(name, stop.signal);
    const end = () => {
      off();
      clearTimeout(timer);
      stop.abort();
      this.hubs.get(name)?.endHold();
    };
    const off = this.manager.events.subscribe((event) => {
      if (event.type === "task.done" && event.task.id === task.id) end();
    });
    const timer = setTimeout(end, POWER_INPUT_HOLD_MS);
    if (task.state !== "running") end();
    return task;
  }

  private holdInput(name: string, signal?: AbortSignal): void {
    const dropped = this.hubs.get(name)?.dropInput(POWER_INPUT_HOLD_MS) ?? 0;
    if (dropped > 0) this.log(`console input vm=${name} dropped=${dropped} reason=power`);
    // What tmux already took (its pane buffer) is dropped at the guest's tty during the hold.
    void (async () => {
      const runtime = await this.manager.runtimeOrNull(name);
      if (runtime) await flushConsoleInput(runtime.paths, runtime.user, POWER_INPUT_HOLD_MS, signal);
    })().catch(() => undefined);
  }

  // ── WebSockets ────────────────────────────────────────────────────────────────────────────

  private refuse(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => undefined);
    const url = req.url ?? "";
    if (url === AGENT_PATHS.events) {
      this.eventsWss.handleUpgrade(req, socket, head, (ws) => this.onEvents(ws));
      return;
    }
    const match = AGENT_PATHS.consolePattern.exec(url);
    // One line per refused upgrade; the path is not echoed (it is the client's text).
    const refused = (status: number, text: string, why: string) => {
      this.log(`upgrade refused ${status} (${why})`);
      this.refuse(socket, status, text);
    };
    if (!match?.[1]) return refused(404, "Not Found", "unknown path");
    let name: string;
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      // A lone "%" or a broken UTF-8 escape (URIError): answered, never left hanging.
      return refused(400, "Bad Request", "bad percent-encoding");
    }
    if (!isSlug(name)) return refused(400, "Bad Request", "not a VM name");
    const runtime = await this.manager.runtimeOrNull(name);
    if (!runtime) return refused(404, "Not Found", `no VM ${name}`);
    this.consoleWss.handleUpgrade(req, socket, head, (ws) => {
      this.onConsole(ws, name, runtime).catch((error) => {
        this.log(`console ${name}: ${(error as Error).message}`);
        ws.close(1011, "console unavailable");
      });
    });
  }

  private onEvents(ws: WebSocket): void {
    ws.send(
      JSON.stringify({ v: 1, type: "hello", agentVersion: AGENT_VERSION, capabilities: [...CAPABILITIES] }),
    );
    const off = this.manager.events.subscribe((event) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > 4 * 1024 * 1024) {
        ws.close(1013, "too far behind"); // the client reconnects and re-reads status
        return;
      }
      ws.send(JSON.stringify(event));
    });
    ws.on("message", () => undefined);
    ws.on("close", off);
    ws.on("error", off);
  }

  private async onConsole(ws: WebSocket, name: string, runtime: Runtime): Promise<void> {
    let hub = this.hubs.get(name);
    if (!hub) {
      hub = new ConsoleHub(runtime, () => this.hubs.delete(name));
      this.hubs.set(name, hub);
    }
    const theHub = hub;
    const session = new ConsoleSession(
      {
        current: () => currentBootLog(runtime),
        screen: async () => {
          const { text, x, y } = await captureScreen(runtime.paths, runtime.user).catch(() => ({
            text: "",
            x: 0,
            y: 0,
          }));
          const body = text.replace(/\n$/, "").replace(/\n/g, "\r\n");
          return Buffer.from(`\x1b[H\x1b[2J${body}\x1b[${y + 1};${x + 1}H`, "utf8");
        },
      },
      {
        send: (frame) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(encodeConsoleFrame(frame));
        },
        buffered: () => ws.bufferedAmount,
      },
    );
    const unsubscribe = theHub.subscribe(() => session.wake());
    // Input the VM does not read fast enough is dropped, not queued: one notice (and one log line)
    // per burst, at most one a second.
    let droppedBytes = 0;
    let noticeTimer: NodeJS.Timeout | null = null;
    const inputDropped = (bytes: number) => {
      droppedBytes += bytes;
      if (noticeTimer) return;
      noticeTimer = setTimeout(() => {
        noticeTimer = null;
      }, 1000);
      noticeTimer.unref();
      const restarting = theHub.restarting;
      const text = restarting
        ? `Input dropped (${droppedBytes} bytes): the VM is restarting.`
        : `Input dropped (${droppedBytes} bytes): the VM does not read that fast. Paste less at a time.`;
      this.log(`console input vm=${name} dropped=${droppedBytes} reason=${restarting ? "power" : "full"}`);
      droppedBytes = 0;
      if (ws.readyState === WebSocket.OPEN)
        ws.send(encodeConsoleFrame({ kind: "control", message: { type: "notice", text } }));
    };
    ws.on("message", (data: Buffer, isBinary) => {
      if (!isBinary) return ws.close(1003, "binary frames only");
      let frame: ReturnType<typeof decodeConsoleFrame>;
      try {
        frame = decodeConsoleFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      } catch (error) {
        return ws.close(1003, error instanceof ConsoleFrameError ? error.message.slice(0, 100) : "bad frame");
      }
      switch (frame.kind) {
        case "data":
          if (frame.bytes.length > CONSOLE_LIMITS.maxInputBytes) return ws.close(1009, "input too large");
          if (!theHub.input(frame.bytes)) inputDropped(frame.bytes.length);
          if (frame.bytes.includes(0x03)) session.interrupted();
          break;
        case "resize":
          theHub.resize(frame.cols, frame.rows);
          break;
        case "ack":
          session.ack(frame.bytes);
          break;
        case "control":
          if (frame.message.type === "ctrl-alt-del") {
            // The web tier runs its own audited vm.reboot instead; a direct client is still logged.
            const id = randomUUID();
            this.log(`console ctrl-alt-del vm=${name} id=${id} actor=-`);
            this.manager.reboots.start(id, { name, ...REBOOT_DEFAULTS }).catch((error) => {
              const text = `ctrl-alt-del refused: ${toAgentError(error).message}`;
              ws.send(encodeConsoleFrame({ kind: "control", message: { type: "notice", text } }));
            });
          } else if (frame.message.type === "ping") {
            ws.send(encodeConsoleFrame({ kind: "control", message: { type: "pong", t: frame.message.t } }));
          }
          break;
      }
    });
    const close = () => {
      if (noticeTimer) clearTimeout(noticeTimer);
      unsubscribe();
      void session.close();
    };
    ws.on("close", close);
    ws.on("error", close);
    this.log(`console attach vm=${name}`);
    // Handlers are in place before the first await: a RESIZE sent right after open is not lost.
    const current = await currentBootLog(runtime);
    const hello = { type: "hello" as const, vm: name, bootId: current ? String(current.n) : undefined };
    ws.send(encodeConsoleFrame({ kind: "control", message: hello }));
    await session.start();
  }

  closeConsoles(): void {
    for (const ws of this.consoleWss.clients) ws.close(1001, "agent stopping");
    for (const ws of this.eventsWss.clients) ws.close(1001, "agent stopping");
    for (const hub of [...this.hubs.values()]) hub.close();
  }
}
