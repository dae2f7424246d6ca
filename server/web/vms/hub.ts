import "server-only";
/**
 * One subscription to the agent's event stream per web process, fanned out to the browsers'
 * event streams (app/api/events, app/api/vms/[name]/events), each with its own filter. Also routes
 * agent task events to the VM service's waiters. Kept on globalThis: one per process.
 *
 * With several web instances, each has its own agent subscription (VM states reach all of them
 * from the agent), and what only the database knows comes over the bus (../bus.ts): a task row the
 * instance following it changed (re-read here and pushed to this instance's browsers), a VM whose
 * owner changed (the owner cache forgotten), and `resync` after the bus's connection came back.
 */
import type { AgentEvent, TaskInfo } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { type BusEvent, getBus } from "../bus";
import { type TaskView, unsafeGetTaskView, unsafeTasksChangedSince } from "../dal/tasks";
import { unsafeGetVmByName } from "../dal/vms";
import { liveFromStatus, unknownLive, type VmLive } from "./views";

export type HubEvent =
  | { type: "vm"; ownerId: string; vm: VmLive }
  | { type: "task"; ownerId: string; task: TaskView };

type Subscriber = {
  accepts: (ownerId: string, vmName: string | null) => boolean;
  send: (e: HubEvent) => void;
};
type TaskWaiter = (task: TaskInfo, done: boolean) => void;

/** Running VMs' figures (uptime, memory) are re-read this often while someone watches. */
const REFRESH_MS = 15_000;
/**
 * A page's read of a VM's live status is reused this long, unless the agent (or another instance)
 * said the VM changed since: a dashboard under load asked the agent once per request (vm.status
 * with the guest's figures through mconsole), 17 req/s against a default Next page's 438 (B6).
 */
export const LIVE_MAX_AGE_MS = 2_000;

class Hub {
  private subscribers = new Set<Subscriber>();
  private waiters = new Map<string, Set<TaskWaiter>>();
  private owners = new Map<string, string>();
  private pending = new Map<string, NodeJS.Timeout>();
  private last = new Map<string, VmLive>();
  private off: (() => void) | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private cache = new Map<string, { live: VmLive; at: number }>();
  private inflight = new Map<string, Promise<VmLive>>();
  /** Bumped when a VM changes: a read begun before must not be cached after. */
  private generation = new Map<string, number>();

  /** Starts the agent subscription and listens to the other instances (idempotent). */
  start(): void {
    if (this.off) return;
    const offAgent = getAgent().subscribe((event) => this.onAgentEvent(event));
    const offBus = getBus().on((event) => void this.onBusEvent(event));
    this.off = () => {
      offAgent();
      offBus();
    };
  }

  private async onBusEvent(event: BusEvent): Promise<void> {
    if (event.t === "vm") {
      this.owners.delete(event.name);
      this.invalidate(event.name);
      this.refresh(event.name);
    } else if (event.t === "task") {
      await this.publishTaskView(event.id, event.ownerId);
    } else if (event.t === "resync") {
      this.owners.clear();
      for (const name of this.last.keys()) this.refresh(name);
      const changed = await unsafeTasksChangedSince(event.since).catch(() => []);
      for (const t of changed) await this.publishTaskView(t.id, t.ownerId);
    }
  }

  private async publishTaskView(id: string, ownerId: string): Promise<void> {
    const task = await unsafeGetTaskView(id).catch(() => null);
    if (task) this.publish({ type: "task", ownerId, task });
  }

  private onAgentEvent(event: AgentEvent): void {
    switch (event.type) {
      case "hello":
        // (Re)connected, maybe to a restarted agent: re-read what the browsers are showing.
        for (const name of [...this.cache.keys()]) this.invalidate(name);
        for (const name of this.last.keys()) this.refresh(name);
        return;
      case "vm.state":
      case "vm.created":
      case "vm.destroyed":
        this.invalidate(event.vm);
        this.refresh(event.vm, 100);
        return;
      case "task.progress":
      case "task.done":
        for (const w of this.waiters.get(event.task.id) ?? []) w(event.task, event.type === "task.done");
        this.invalidate(event.task.vm);
        this.refresh(event.task.vm, 100);
        return;
    }
  }

  /** Waits for an agent task's events (progress and the end). Returns an unsubscribe. */
  watchTask(id: string, waiter: TaskWaiter): () => void {
    this.start();
    let set = this.waiters.get(id);
    if (!set) {
      set = new Set();
      this.waiters.set(id, set);
    }
    set.add(waiter);
    return () => {
      set.delete(waiter);
      if (set.size === 0) this.waiters.delete(id);
    };
  }

  subscribe(sub: Subscriber): () => void {
    this.start();
    this.subscribers.add(sub);
    if (!this.refreshTimer) {
      this.refreshTimer = setInterval(() => {
        for (const [name, live] of this.last) if (live.state === "running") this.refresh(name);
      }, REFRESH_MS);
      this.refreshTimer.unref?.();
    }
    return () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0 && this.refreshTimer) {
        clearInterval(this.refreshTimer);
        this.refreshTimer = null;
      }
    };
  }

  async ownerOf(vmName: string): Promise<string | null> {
    const known = this.owners.get(vmName);
    if (known) return known;
    const row = await unsafeGetVmByName(vmName).catch(() => null);
    if (row) this.owners.set(vmName, row.ownerId);
    return row?.ownerId ?? null;
  }

  /** The VM's owner changed (or it went): forgotten here and on the other instances. */
  forgetOwner(vmName: string): void {
    this.owners.delete(vmName);
    getBus().publish({ t: "vm", name: vmName });
  }

  /**
   * A VM's live status for a page: one agent read shared by the callers that ask at once, reused
   * for `maxAgeMs` unless the VM changed meanwhile (an agent event, a bus message). `unknown` (the
   * agent did not answer) is never reused.
   */
  live(name: string, maxAgeMs = LIVE_MAX_AGE_MS): Promise<VmLive> {
    this.start();
    const hit = this.cache.get(name);
    if (hit && Date.now() - hit.at < maxAgeMs) return Promise.resolve(hit.live);
    const pending = this.inflight.get(name);
    if (pending) return pending;
    const generation = this.generation.get(name) ?? 0;
    const read = readLive(name)
      .then((live) => {
        if ((this.generation.get(name) ?? 0) === generation && live.state !== "unknown")
          this.cache.set(name, { live, at: Date.now() });
        return live;
      })
      .finally(() => {
        if (this.inflight.get(name) === read) this.inflight.delete(name);
      });
    this.inflight.set(name, read);
    return read;
  }

  private invalidate(name: string): void {
    this.generation.set(name, (this.generation.get(name) ?? 0) + 1);
    this.cache.delete(name);
    this.inflight.delete(name);
  }

  /** Re-reads a VM's status from the agent (coalesced) and publishes it. */
  refresh(name: string, delayMs = 0): void {
    if (this.pending.has(name)) return;
    const timer = setTimeout(() => {
      this.pending.delete(name);
      void this.readAndPublish(name);
    }, delayMs);
    timer.unref?.();
    this.pending.set(name, timer);
  }

  private async readAndPublish(name: string): Promise<void> {
    const ownerId = await this.ownerOf(name);
    if (!ownerId) return; // not a VM of this panel
    const generation = this.generation.get(name) ?? 0;
    const live = await readLive(name);
    this.last.set(name, live);
    if ((this.generation.get(name) ?? 0) === generation && live.state !== "unknown")
      this.cache.set(name, { live, at: Date.now() });
    this.publish({ type: "vm", ownerId, vm: live });
  }

  publish(event: HubEvent): void {
    const vmName = event.type === "vm" ? event.vm.name : event.task.vmName;
    for (const sub of this.subscribers) {
      if (!sub.accepts(event.ownerId, vmName)) continue;
      try {
        sub.send(event);
      } catch {
        this.subscribers.delete(sub);
      }
    }
  }
}

/** A VM's live status for a page or handler (see Hub.live: shared and briefly reused). */
export function pageLive(name: string): Promise<VmLive> {
  return getHub().live(name);
}

/** A VM's live status from the agent, read now; `unknown` when the agent cannot answer. */
export async function readLive(name: string): Promise<VmLive> {
  try {
    return liveFromStatus(await getAgent().call("vm.status", { name }));
  } catch {
    return unknownLive(name);
  }
}

const g = globalThis as { __zaphodHub?: Hub };

export function getHub(): Hub {
  g.__zaphodHub ??= new Hub();
  return g.__zaphodHub;
}
