/**
 * The web tier's typed client for the host agent (HTTP + WebSocket over its Unix socket).
 *   const agent = createAgentClient({ socketPath });
 *   const status = await agent.call("vm.status", { name });          // typed result or AgentCallError
 *   const task = await agent.run("vm.start", { name });               // waits for task.done
 *   const off = agent.subscribe((event) => …);                        // events, reconnects by itself
 *   const ws = agent.openConsole("alice");                            // console frames (protocol/console.ts)
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, request } from "node:http";
import { request as tlsRequest } from "node:https";
import type { Readable } from "node:stream";
import type { PeerCertificate } from "node:tls";
import { WebSocket } from "ws";
import {
  type Actor,
  AGENT_LIMITS,
  AGENT_PATHS,
  type AgentError,
  type AgentEvent,
  type AgentReply,
  type ArgsOf,
  type ErrorCode,
  type Op,
  PROTOCOL_VERSION,
  type ResultOf,
  type TaskAccepted,
  type TaskInfo,
  type TaskOp,
} from "../../protocol/agent";
import { CONSOLE_LIMITS } from "../../protocol/console";

export class AgentCallError extends Error {
  override name = "AgentCallError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly op: Op,
    /** The agent could not be reached, or answers in a protocol version this panel does not speak. */
    readonly transport?: "unreachable" | "incompatible",
  ) {
    super(message);
  }
}

/**
 * An agent on another host (issue 13): mutual TLS with this web instance's certificate; the
 * agent's certificate must be issued by `ca`, name `host:<hostName>` and carry `serial` (the one it
 * joined with), or the connection ends before any request is sent.
 */
export interface TlsTarget {
  hostName: string;
  address: string;
  port: number;
  ca: string;
  cert: string;
  key: string;
  serial: string;
}

export interface AgentClientOptions {
  /** The local agent's Unix socket; ignored when `tls` is given. */
  socketPath: string;
  tls?: TlsTarget;
  /** Per-request timeout (the agent answers task verbs at once; tasks report through events). */
  timeoutMs?: number;
  /** Delay before reconnecting the event stream, doubling up to 10 s. */
  reconnectMs?: number;
}

export interface AgentClient {
  /** `actor`: the user the web tier authorized and why (VM verbs only; see protocol README). */
  call<O extends Op>(
    op: O,
    args: ArgsOf<O>,
    options?: { id?: string; actor?: Actor; timeoutMs?: number },
  ): Promise<ResultOf[O]>;
  /** Starts a task verb and resolves when it ends (rejects with the task's error on failure). */
  run<O extends TaskOp>(
    op: O,
    args: ArgsOf<O>,
    options?: { id?: string; timeoutMs?: number; actor?: Actor },
  ): Promise<TaskInfo>;
  subscribe(listener: (event: AgentEvent) => void): () => void;
  openConsole(vmName: string): WebSocket;
  /** GET a transfer path (an image, a moving VM's disk): the response once it is 200. */
  download(path: string): Promise<IncomingMessage>;
  /** PUT a body of `size` bytes to a transfer path with its checksum headers; the agent's result. */
  upload(path: string, body: Readable, headers: Record<string, string>, size: number): Promise<unknown>;
  close(): void;
}

/** The agent's certificate is the one its host joined with, or the connection is refused. */
export function checkAgentIdentity(target: TlsTarget) {
  return (_servername: string, cert: PeerCertificate): Error | undefined => {
    const cn = cert.subject?.CN;
    if (cn !== `host:${target.hostName}`)
      return new Error(
        `the agent at ${target.address}:${target.port} is not host ${target.hostName} (its certificate names ${cn ?? "nobody"})`,
      );
    if ((cert.serialNumber ?? "").toUpperCase() !== target.serial.toUpperCase())
      return new Error(
        `host ${target.hostName}'s certificate is not the one it joined with (revoked or replaced)`,
      );
    return undefined;
  };
}

function tlsOptions(target: TlsTarget) {
  return {
    ca: target.ca,
    cert: target.cert,
    key: target.key,
    minVersion: "TLSv1.2" as const,
    servername: "",
    checkServerIdentity: checkAgentIdentity(target),
  };
}

function post(
  socketPath: string,
  body: string,
  timeoutMs: number,
  target?: TlsTarget,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const send = target ? tlsRequest : request;
    const where = target
      ? { host: target.address, port: target.port, ...tlsOptions(target), agent: false }
      : { socketPath };
    const req = send(
      {
        ...where,
        path: AGENT_PATHS.rpc,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new AgentCallError("timeout", "agent did not answer in time", "agent.health")),
    );
    req.on("error", reject);
    req.end(body);
  });
}

export function createAgentClient(options: AgentClientOptions): AgentClient {
  const { socketPath } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const listeners = new Set<(event: AgentEvent) => void>();
  let events: WebSocket | null = null;
  let closed = false;
  let backoff = options.reconnectMs ?? 250;
  let reconnectTimer: NodeJS.Timeout | null = null;

  const target = options.tls;
  const wsUrl = (path: string) =>
    target
      ? `wss://${target.address.includes(":") ? `[${target.address}]` : target.address}:${target.port}${path}`
      : `ws+unix://${socketPath}:${path}`;
  const wsTls = target ? tlsOptions(target) : {};

  function connectEvents(): void {
    if (closed || events || listeners.size === 0) return;
    const ws = new WebSocket(wsUrl(AGENT_PATHS.events), {
      maxPayload: AGENT_LIMITS.maxEventFrameBytes,
      ...wsTls,
    });
    events = ws;
    ws.on("open", () => {
      backoff = options.reconnectMs ?? 250;
    });
    ws.on("message", (data) => {
      let event: AgentEvent;
      try {
        event = JSON.parse(String(data)) as AgentEvent;
      } catch {
        return;
      }
      for (const listener of listeners) listener(event);
    });
    const retry = () => {
      if (events !== ws) return;
      events = null;
      if (closed || listeners.size === 0) return;
      reconnectTimer = setTimeout(connectEvents, backoff);
      reconnectTimer.unref?.();
      backoff = Math.min(backoff * 2, 10_000);
    };
    ws.on("close", retry);
    ws.on("error", () => ws.terminate());
  }

  async function call<O extends Op>(
    op: O,
    args: ArgsOf<O>,
    callOptions: { id?: string; actor?: Actor; timeoutMs?: number } = {},
  ): Promise<ResultOf[O]> {
    const id = callOptions.id ?? randomUUID();
    const { actor } = callOptions;
    const body = JSON.stringify({ v: PROTOCOL_VERSION, id, op, args, ...(actor ? { actor } : {}) });
    let response: { status: number; text: string };
    try {
      response = await post(socketPath, body, callOptions.timeoutMs ?? timeoutMs, target);
    } catch (error) {
      if (error instanceof AgentCallError)
        throw new AgentCallError(error.code, error.message, op, "unreachable");
      throw new AgentCallError(
        "internal",
        `agent unreachable: ${(error as Error).message}`,
        op,
        "unreachable",
      );
    }
    let reply: AgentReply<O>;
    try {
      reply = JSON.parse(response.text) as AgentReply<O>;
    } catch {
      throw new AgentCallError("internal", `agent sent a non-JSON reply (HTTP ${response.status})`, op);
    }
    if (reply.v !== PROTOCOL_VERSION)
      throw new AgentCallError(
        "internal",
        `the agent speaks protocol ${String(reply.v)}; this panel speaks ${PROTOCOL_VERSION}`,
        op,
        "incompatible",
      );
    if (!reply.ok) throw new AgentCallError(reply.error.code, reply.error.message, op);
    return reply.result;
  }

  function subscribe(listener: (event: AgentEvent) => void): () => void {
    listeners.add(listener);
    connectEvents();
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && events) {
        const ws = events;
        events = null;
        ws.close();
      }
    };
  }

  async function run<O extends TaskOp>(
    op: O,
    args: ArgsOf<O>,
    runOptions: { id?: string; timeoutMs?: number; actor?: Actor } = {},
  ): Promise<TaskInfo> {
    const id = runOptions.id ?? randomUUID();
    const waitMs = runOptions.timeoutMs ?? 240_000;
    let resolveDone: (task: TaskInfo) => void = () => undefined;
    const done = new Promise<TaskInfo>((resolve) => {
      resolveDone = resolve;
    });
    const off = subscribe((event) => {
      if (event.type === "task.done" && event.task.id === id) resolveDone(event.task);
    });
    try {
      // Every task verb answers { task } (ResultOf in the protocol): no cast needed.
      const accepted: TaskAccepted = await call(op, args, { id, actor: runOptions.actor });
      // The task may have ended before the event stream was up: ask for it while waiting.
      const poll = setInterval(() => {
        call("task.get", { id: accepted.task.id })
          .then((task) => task.state !== "running" && resolveDone(task))
          .catch(() => undefined);
      }, 5_000);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new AgentCallError("timeout", `${op} did not finish in time`, op)),
          waitMs,
        );
      });
      try {
        const task = await Promise.race([done, timeout]);
        if (task.state !== "succeeded") {
          const error = task.error ?? ({ code: "internal", message: `task ${task.state}` } as AgentError);
          throw new AgentCallError(error.code, error.message, op);
        }
        return task;
      } finally {
        clearInterval(poll);
        clearTimeout(timer);
      }
    } finally {
      off();
    }
  }

  function openConsole(vmName: string): WebSocket {
    const ws = new WebSocket(wsUrl(AGENT_PATHS.console(vmName)), {
      maxPayload: CONSOLE_LIMITS.maxFrameBytes,
      ...wsTls,
    });
    ws.binaryType = "nodebuffer";
    return ws;
  }

  function transferRequest(method: "GET" | "PUT", path: string, headers: Record<string, string>) {
    const send = target ? tlsRequest : request;
    const where = target
      ? { host: target.address, port: target.port, ...tlsOptions(target), agent: false }
      : { socketPath };
    // Idle for a minute (not long as a whole): a disk takes as long as it takes.
    return send({ ...where, path, method, headers, timeout: 60_000 });
  }

  async function errorOf(res: IncomingMessage, what: string): Promise<AgentCallError> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    try {
      const reply = JSON.parse(Buffer.concat(chunks).toString("utf8")) as AgentReply;
      if (!reply.ok) return new AgentCallError(reply.error.code, reply.error.message, "agent.health");
    } catch {}
    return new AgentCallError("internal", `${what}: HTTP ${res.statusCode}`, "agent.health");
  }

  const unreachable = (e: Error) =>
    e instanceof AgentCallError
      ? e
      : new AgentCallError("internal", `agent unreachable: ${e.message}`, "agent.health", "unreachable");

  function download(path: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = transferRequest("GET", path, {});
      req.on("timeout", () =>
        req.destroy(new AgentCallError("timeout", "the agent stopped sending", "agent.health")),
      );
      req.on("error", (e) => reject(unreachable(e)));
      req.on("response", (res) => {
        if (res.statusCode === 200) resolve(res);
        else void errorOf(res, `GET ${path}`).then(reject);
      });
      req.end();
    });
  }

  function upload(
    path: string,
    body: Readable,
    headers: Record<string, string>,
    size: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = transferRequest("PUT", path, {
        ...headers,
        "content-type": "application/octet-stream",
        "content-length": String(size),
      });
      req.on("timeout", () =>
        req.destroy(new AgentCallError("timeout", "the agent stopped receiving", "agent.health")),
      );
      req.on("error", (e) => {
        body.destroy();
        reject(unreachable(e));
      });
      req.on("response", (res) => {
        if (res.statusCode !== 200) return void errorOf(res, `PUT ${path}`).then(reject);
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { result?: unknown }).result);
          } catch {
            reject(new AgentCallError("internal", "the agent sent a non-JSON reply", "agent.health"));
          }
        });
      });
      body.on("error", (e) => req.destroy(e));
      body.pipe(req);
    });
  }

  function close(): void {
    closed = true;
    if (reconnectTimer) clearTimeout(reconnectTimer);
    listeners.clear();
    events?.close();
    events = null;
  }

  return { call, run, subscribe, openConsole, download, upload, close };
}
