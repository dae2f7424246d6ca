/**
 * One agent client per host, behind the one the web tier uses (issue 13 point 2): a VM's verbs go
 * to its own host's agent (`Vm.host`), host verbs to the panel's own host ("local", the Unix
 * socket) unless a host is named, events of every host arrive through one subscription.
 *
 *   const agent = createRoutedAgent(local, remotes);
 *   await agent.call("vm.start", { name });              // to the VM's host
 *   await agent.forHost("h2").call("agent.health", {});  // to h2's agent over mutual TLS
 *
 * A host that cannot be reached fails its own calls (AgentCallError, transport "unreachable"; the
 * VM shows "unknown"), nothing else; one whose agent speaks another protocol version is refused
 * (transport "incompatible") and shown so on the host page.
 */
import type { WebSocket } from "ws";
import type { AgentEvent, ArgsOf, Op, ResultOf, TaskInfo, TaskOp } from "../../protocol/agent";
import { AgentCallError, type AgentClient } from "./client";

export const LOCAL_HOST = "local";
/** A remote host's client is made again (its row and certificate checked again) this often. */
export const REMOTE_CLIENT_TTL_MS = 30_000;
/** How often the event subscription looks for hosts that joined (or left). */
export const HOST_REFRESH_MS = 5_000;

/** What the router needs to know about hosts and VMs (the database and the CA, in production). */
export interface HostDirectory {
  /** The host a VM lives on; "local" for a VM the database does not know (yet). */
  hostOfVm(name: string): Promise<string>;
  /** The host whose agent runs a task (by the task's id), when the database knows it. */
  hostOfTask(id: string): Promise<string | null>;
  /** The joined hosts (not "local"). */
  joinedHosts(): Promise<string[]>;
  /** A client for a joined host, or a sentence why there is none. */
  connect(host: string): Promise<AgentClient>;
  /** The VM moved: its host is read again. */
  forgetVm?(name: string): void;
  /** Called after a remote call: what its host looked like (the host page shows it). */
  observed?(host: string, outcome: "up" | "unreachable" | "incompatible", error?: string): void;
}

type CallOptions = { id?: string; actor?: import("../../protocol/agent").Actor; timeoutMs?: number };

export interface HostAgent {
  /** The host's own client (transfers: download and upload). */
  client(): Promise<AgentClient>;
  call<O extends Op>(op: O, args: ArgsOf<O>, options?: CallOptions): Promise<ResultOf[O]>;
  run<O extends TaskOp>(
    op: O,
    args: ArgsOf<O>,
    options?: CallOptions & { timeoutMs?: number },
  ): Promise<TaskInfo>;
}

export interface RoutedAgent extends HostAgent {
  forHost(host: string): HostAgent;
  subscribe(listener: (event: AgentEvent) => void): () => void;
  openConsole(vmName: string): Promise<WebSocket>;
  /** The VM's host's client, found now; the returned opener connects when called. */
  prepareConsole(vmName: string): Promise<() => WebSocket>;
  /** The console on a known, ready host: "local" opens at once. */
  openConsoleOn(host: "local", vmName: string): WebSocket;
  /** A VM changed hosts (a move): the next call reads its host again. */
  forgetVm(name: string): void;
  /** Joined hosts whose events are not subscribed yet are (called by the host refresh). */
  refreshHosts(): Promise<void>;
  close(): void;
}

/** Verbs that name a VM but belong to its host as a whole are none; every `name` is a VM's. */
function vmNameOf(args: unknown): string | null {
  const name = (args as { name?: unknown } | null)?.name;
  return typeof name === "string" ? name : null;
}

export function createRoutedAgent(local: AgentClient, directory: HostDirectory): RoutedAgent {
  const remotes = new Map<string, { client: Promise<AgentClient>; at: number }>();
  const subscriptions = new Map<string, () => void>();
  const listeners = new Set<(event: AgentEvent) => void>();
  /** Task id → host, for the tasks this process started (task.get goes where the task runs). */
  const taskHosts = new Map<string, string>();

  function clientFor(host: string): Promise<AgentClient> {
    if (host === LOCAL_HOST) return Promise.resolve(local);
    const held = remotes.get(host);
    if (held && Date.now() - held.at < REMOTE_CLIENT_TTL_MS) return held.client;
    if (held) void held.client.then((c) => c.close()).catch(() => undefined);
    const pending = directory.connect(host);
    const entry = { client: pending, at: Date.now() };
    remotes.set(host, entry);
    pending.catch(() => remotes.get(host) === entry && remotes.delete(host));
    return pending;
  }

  async function routeOf(op: Op, args: unknown): Promise<string> {
    if (op === "task.get") {
      const id = (args as { id: string }).id;
      return taskHosts.get(id) ?? (await directory.hostOfTask(id)) ?? LOCAL_HOST;
    }
    const name = vmNameOf(args);
    return name ? directory.hostOfVm(name) : LOCAL_HOST;
  }

  async function onHost<T>(host: string, op: Op, work: (client: AgentClient) => Promise<T>): Promise<T> {
    let client: AgentClient;
    try {
      client = await clientFor(host);
    } catch (error) {
      const transport = error instanceof AgentCallError && error.transport ? error.transport : "unreachable";
      directory.observed?.(host, transport, (error as Error).message);
      throw new AgentCallError("internal", `host ${host}: ${(error as Error).message}`, op, transport);
    }
    if (host === LOCAL_HOST) return work(client);
    try {
      const result = await work(client);
      directory.observed?.(host, "up");
      return result;
    } catch (error) {
      if (error instanceof AgentCallError && error.transport) {
        // The next call builds its client again from the host's row (a host that joined again).
        remotes.delete(host);
        directory.observed?.(host, error.transport, error.message);
        throw new AgentCallError(error.code, `host ${host}: ${error.message}`, op, error.transport);
      }
      throw error;
    }
  }

  function hostAgent(fixed: string | null): HostAgent {
    return {
      client: () => onHost(fixed ?? LOCAL_HOST, "agent.health", async (c) => c),
      async call(op, args, options = {}) {
        const host = fixed ?? (await routeOf(op, args));
        if (options.id) rememberTask(options.id, host);
        return onHost(host, op, (client) => client.call(op, args, options));
      },
      async run(op, args, options = {}) {
        const host = fixed ?? (await routeOf(op, args));
        if (options.id) rememberTask(options.id, host);
        return onHost(host, op, (client) => client.run(op, args, options));
      },
    };
  }

  function rememberTask(id: string, host: string): void {
    taskHosts.set(id, host);
    while (taskHosts.size > 2_000) taskHosts.delete(taskHosts.keys().next().value as string);
  }

  function fanOut(event: AgentEvent): void {
    for (const listener of listeners) listener(event);
  }

  /** Each joined host's event stream has its own client (the call clients are remade every 30 s). */
  async function refreshHosts(): Promise<void> {
    if (listeners.size === 0) return;
    const joined = new Set(await directory.joinedHosts());
    for (const [host, off] of subscriptions) {
      if (host !== LOCAL_HOST && !joined.has(host)) {
        off();
        subscriptions.delete(host);
        remotes.delete(host);
      }
    }
    for (const host of joined) {
      if (subscriptions.has(host)) continue;
      const client = await directory.connect(host).catch(() => null);
      if (!client) continue;
      if (listeners.size === 0 || subscriptions.has(host)) {
        client.close();
        continue;
      }
      const off = client.subscribe(fanOut);
      subscriptions.set(host, () => {
        off();
        client.close();
      });
    }
  }

  let refreshTimer: NodeJS.Timeout | null = null;
  function startRefreshing(): void {
    if (refreshTimer) return;
    refreshTimer = setInterval(() => void refreshHosts().catch(() => undefined), HOST_REFRESH_MS);
    refreshTimer.unref?.();
  }
  function stopRefreshing(): void {
    if (refreshTimer) clearInterval(refreshTimer);
    refreshTimer = null;
  }

  const routed = hostAgent(null);
  return {
    ...routed,
    forHost: (host) => hostAgent(host),
    subscribe(listener) {
      listeners.add(listener);
      if (!subscriptions.has(LOCAL_HOST)) subscriptions.set(LOCAL_HOST, local.subscribe(fanOut));
      void refreshHosts().catch(() => undefined);
      startRefreshing();
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0) return;
        stopRefreshing();
        for (const off of subscriptions.values()) off();
        subscriptions.clear();
      };
    },
    async openConsole(vmName) {
      const host = await directory.hostOfVm(vmName);
      return (await clientFor(host)).openConsole(vmName);
    },
    async prepareConsole(vmName) {
      const host = await directory.hostOfVm(vmName);
      const client = await onHost(host, "vm.status", async (c) => c);
      return () => client.openConsole(vmName);
    },
    openConsoleOn(_host, vmName) {
      return local.openConsole(vmName);
    },
    refreshHosts,
    forgetVm: (name) => directory.forgetVm?.(name),
    close() {
      stopRefreshing();
      for (const off of subscriptions.values()) off();
      subscriptions.clear();
      listeners.clear();
      local.close();
      for (const held of remotes.values()) void held.client.then((c) => c.close()).catch(() => undefined);
      remotes.clear();
    },
  };
}
