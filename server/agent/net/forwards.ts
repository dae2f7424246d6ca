/**
 * Port forwards (issue 12 points 6 and 7): the admin forwards a host port on the forward address
 * (127.0.0.1 in the quick start) to a VM's port. By default each one is a userspace relay
 * (relay.ts) the agent listens for; with `ZAPHOD_NET_FORWARDS=nft` they are nftables DNAT rules in
 * the bridge's namespace instead (nft.ts; `rulesChanged` rebuilds them), and nothing listens. Kept
 * in `<data>/forwards.json` (root-only, replaced atomically) and listened for (or ruled) again at
 * start. Refused with the reason: a privileged port, a port already forwarded, one in use on the
 * host (relay), a VM without an address.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { PortForward } from "../../protocol/agent";
import { AgentFailure } from "../errors";
import { run } from "../exec";
import { Relay } from "./relay";

export interface ForwardsOptions {
  dataDir: string;
  /** `/run/netns/<name>` of the bridge's namespace; null: the host's own. */
  netns: string | null;
  /** Where forwarded ports listen (e.g. 127.0.0.1). */
  forwardAddress: string;
  /** The VM's IPv4 address, or null when it has none. */
  vmAddress: (name: string) => Promise<string | null>;
  /** `relay` (default): the agent listens; `nft`: DNAT rules, rebuilt through `rulesChanged`. */
  mode?: "relay" | "nft";
  /** nft mode: rebuilds the namespace's rules after the list changed (a failure undoes the change). */
  rulesChanged?: () => Promise<void>;
  log: (line: string) => void;
}

export const MIN_FORWARD_PORT = 1024;

const ForwardsFile = z.object({ forwards: z.array(PortForward) }).strict();

/** The checks that need no host: a privileged port, a port already forwarded. */
export function checkForward(f: PortForward, existing: readonly PortForward[]): void {
  if (f.hostPort < MIN_FORWARD_PORT) {
    throw new AgentFailure("invalid-request", `privileged ports are refused: pick ${MIN_FORWARD_PORT}–65535`);
  }
  const taken = existing.find((e) => e.hostPort === f.hostPort);
  if (taken)
    throw new AgentFailure("conflict", `${f.hostPort} already forwards to ${taken.name}:${taken.vmPort}`);
}

export class Forwards {
  private readonly forwards = new Map<number, PortForward>();
  private readonly relays = new Map<number, Relay>();
  /** add/remove/start one at a time: two adds of one port must not both listen. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ForwardsOptions) {}

  private get file(): string {
    return join(this.options.dataDir, "forwards.json");
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Loads the saved forwards and listens for each (one that cannot listen is logged and kept). */
  start(): Promise<void> {
    return this.serial(async () => {
      const saved = await this.load();
      if (this.nft) {
        for (const f of saved) this.forwards.set(f.hostPort, f);
        await this.ruled();
        return;
      }
      for (const f of saved) {
        this.forwards.set(f.hostPort, f);
        try {
          await this.listen(f);
        } catch (error) {
          this.options.log(
            `forward ${f.hostPort} → ${f.name}:${f.vmPort} not listening: ${(error as Error).message}`,
          );
        }
      }
    });
  }

  list(): PortForward[] {
    return [...this.forwards.values()].sort((a, b) => a.hostPort - b.hostPort);
  }

  forVm(name: string): PortForward[] {
    return this.list().filter((f) => f.name === name);
  }

  add(input: PortForward): Promise<PortForward[]> {
    const f = PortForward.parse(input);
    return this.serial(async () => {
      checkForward(f, this.list());
      if (!(await this.options.vmAddress(f.name))) {
        throw new AgentFailure("invalid-request", `${f.name} has no network address: give it one first`);
      }
      await this.listen(f);
      this.forwards.set(f.hostPort, f);
      try {
        await this.save();
        await this.ruled();
      } catch (error) {
        this.forwards.delete(f.hostPort);
        await this.unlisten(f.hostPort);
        await this.save().catch(() => undefined);
        throw error;
      }
      this.options.log(`forward ${f.hostPort} → ${f.name}:${f.vmPort} added`);
      return this.list();
    });
  }

  remove(hostPort: number): Promise<PortForward[]> {
    return this.serial(async () => {
      if (!this.forwards.has(hostPort))
        throw new AgentFailure("not-found", `port ${hostPort} is not forwarded`);
      this.forwards.delete(hostPort);
      await this.save();
      await this.unlisten(hostPort);
      await this.ruled();
      this.options.log(`forward ${hostPort} removed`);
      return this.list();
    });
  }

  /** On destroy: the VM's forwards go with it. */
  removeVm(name: string): Promise<PortForward[]> {
    return this.serial(async () => {
      const gone = this.forVm(name);
      if (gone.length === 0) return this.list();
      for (const f of gone) this.forwards.delete(f.hostPort);
      await this.save();
      for (const f of gone) await this.unlisten(f.hostPort);
      await this.ruled();
      return this.list();
    });
  }

  /** Stops listening and ends every relayed connection (the saved forwards stay). */
  stop(): Promise<void> {
    return this.serial(async () => {
      for (const port of [...this.relays.keys()]) await this.unlisten(port);
    });
  }

  private get nft(): boolean {
    return this.options.mode === "nft";
  }

  /** nft mode: the rules follow the list. */
  private async ruled(): Promise<void> {
    if (this.nft) await this.options.rulesChanged?.();
  }

  private async listen(f: PortForward): Promise<void> {
    if (this.nft) {
      // DNAT would shadow a service of the bridge's namespace (the host's own in production).
      if (await listenedIn(this.options.netns, f.hostPort))
        throw new AgentFailure("conflict", `port ${f.hostPort} is in use on this host`);
      return;
    }
    const { netns, forwardAddress, vmAddress, log } = this.options;
    try {
      const relay = await Relay.listen({
        address: forwardAddress,
        port: f.hostPort,
        netns,
        // The address is looked up per connection, from the forward as it is now.
        target: async () => {
          const current = this.forwards.get(f.hostPort);
          if (!current) return null;
          const ipv4 = await vmAddress(current.name);
          return ipv4 ? { ipv4, port: current.vmPort } : null;
        },
        log,
      });
      this.relays.set(f.hostPort, relay);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new AgentFailure("conflict", `port ${f.hostPort} is in use on this host`);
      }
      throw error;
    }
  }

  private async unlisten(hostPort: number): Promise<void> {
    const relay = this.relays.get(hostPort);
    this.relays.delete(hostPort);
    await relay?.close();
  }

  private async load(): Promise<PortForward[]> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    const parsed = ForwardsFile.safeParse(json);
    if (!parsed.success) {
      this.options.log(`${this.file} is not a list of forwards; ignored`);
      return [];
    }
    return parsed.data.forwards;
  }

  private async save(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ forwards: this.list() })}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}

/** Something listens on TCP `port` in the namespace at `netnsPath` (null: the agent's own). */
async function listenedIn(netnsPath: string | null, port: number): Promise<boolean> {
  const ss = ["ss", "-Hltn", "sport", "=", `:${port}`];
  const out = await run(netnsPath ? ["nsenter", `--net=${netnsPath}`, "--", ...ss] : ss, {
    timeoutMs: 10_000,
  });
  return out.stdout.trim() !== "";
}
