/**
 * The userspace relay behind a port forward (issue 12 point 7): the agent listens with node:net
 * on the forward address in its own (the host's) namespace and carries each accepted connection
 * to one VM's address and port inside the bridge's namespace. Node cannot open a socket in
 * another namespace, so per connection it runs `nsenter --net=<netns>` with busybox's `nc`, as
 * nobody, with the accepted socket itself as nc's stdin and stdout (the listener is
 * `pauseOnConnect`: node never reads it, nc moves the bytes; no copy through the agent). Nothing
 * in the host's network changes: no route_localnet, no rule. When the bridge lives in the host's
 * own namespace (netns null) node connects directly.
 *
 * A connection reaches only the target the forward names: nc gets the address (a dotted IPv4
 * checked here) and port as argv, no shell, no option from the client.
 */
import type { ChildProcess } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { baseEnv, spawn } from "../exec";

export interface RelayTarget {
  ipv4: string;
  port: number;
}

export interface RelayOptions {
  /** Address and port to listen on in the agent's own namespace. */
  address: string;
  port: number;
  /** `/run/netns/<name>` of the namespace the target is reached in; null: the agent's own. */
  netns: string | null;
  /** Looked up per connection (the VM's address can change between boots); null drops it. */
  target: () => Promise<RelayTarget | null>;
  /** Connections carried at once; more are closed at accept. */
  maxConnections?: number;
  log: (line: string) => void;
}

export const RELAY_MAX_CONNECTIONS = 64;
/** nc's connect timeout (s): a VM that is down or firewalls the port does not hold a slot long. */
const CONNECT_TIMEOUT_S = 10;
/** The relay's nc runs as nobody: it needs no privilege once inside the namespace. */
const NOBODY = 65534;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(text: string): boolean {
  return IPV4.test(text);
}

/** The argv that connects stdin/stdout to the target from inside `netns`. */
export function relayArgv(netns: string, target: RelayTarget): string[] {
  if (!isIpv4(target.ipv4)) throw new Error(`relay target is not an IPv4 address: ${target.ipv4}`);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    throw new Error(`relay target port out of range: ${target.port}`);
  }
  return [
    "nsenter",
    `--net=${netns}`,
    "--",
    "setpriv",
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    "--no-new-privs",
    "--",
    "/bin/busybox",
    "nc",
    "-w",
    String(CONNECT_TIMEOUT_S),
    target.ipv4,
    String(target.port),
  ];
}

/** A listening forward; `close()` stops listening and ends every connection it carries. */
export class Relay {
  private readonly connections = new Set<{ socket: Socket; end: () => void }>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly options: RelayOptions,
  ) {}

  /** Listens; rejects with the listen error (EADDRINUSE when the port is taken). */
  static async listen(options: RelayOptions): Promise<Relay> {
    // pauseOnConnect: with a netns the socket's fd goes to nc and node must not read from it.
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
    const relay = new Relay(server, options);
    server.on("connection", (socket) => relay.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.address, port: options.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => options.log(`forward ${options.port}: ${error.message}`));
    return relay;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.end();
    await done;
  }

  private accept(socket: Socket): void {
    const max = this.options.maxConnections ?? RELAY_MAX_CONNECTIONS;
    if (this.closed || this.connections.size >= max) {
      if (!this.closed)
        this.options.log(`forward ${this.options.port}: ${max} connections already, one refused`);
      socket.destroy();
      return;
    }
    socket.on("error", () => socket.destroy());
    let child: ChildProcess | null = null;
    let upstream: Socket | null = null;
    const entry = {
      socket,
      end: () => {
        child?.kill("SIGKILL");
        upstream?.destroy();
        socket.destroy();
      },
    };
    this.connections.add(entry);
    socket.once("close", () => {
      this.connections.delete(entry);
      entry.end();
    });
    this.options
      .target()
      .then((target) => {
        if (!target || this.closed || socket.destroyed) {
          socket.destroy();
          return;
        }
        if (this.options.netns === null) {
          upstream = this.connectDirect(socket, target);
          return;
        }
        child = this.connectInNetns(socket, this.options.netns, target);
      })
      .catch((error: unknown) => {
        this.options.log(`forward ${this.options.port}: ${(error as Error).message}`);
        socket.destroy();
      });
  }

  private connectInNetns(socket: Socket, netns: string, target: RelayTarget): ChildProcess {
    const [file, ...args] = relayArgv(netns, target);
    const child: ChildProcess = spawn(file as string, args, {
      shell: false,
      env: baseEnv() as NodeJS.ProcessEnv,
      cwd: "/",
      stdio: [socket, socket, "pipe"],
    });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      if (stderr.length < 300) stderr += chunk;
    });
    child.on("error", (error) => {
      this.options.log(`forward ${this.options.port}: ${error.message}`);
      socket.destroy();
    });
    // nc exits when the VM's side closes (after the client's EOF was passed on as a half close);
    // the agent's copy of the fd is then the last one: destroying it sends the client its FIN.
    child.on("exit", () => {
      const reason = stderr.trim().split("\n")[0];
      if (reason) this.options.log(`forward ${this.options.port} → ${target.ipv4}:${target.port}: ${reason}`);
      socket.destroy();
    });
    return child;
  }

  private connectDirect(socket: Socket, target: RelayTarget): Socket {
    const upstream = createConnection({ host: target.ipv4, port: target.port, allowHalfOpen: true });
    upstream.setTimeout(CONNECT_TIMEOUT_S * 1000, () => upstream.destroy());
    upstream.once("connect", () => upstream.setTimeout(0));
    upstream.on("error", () => socket.destroy());
    upstream.on("close", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
    socket.pipe(upstream);
    upstream.pipe(socket);
    socket.resume();
    return upstream;
  }
}
