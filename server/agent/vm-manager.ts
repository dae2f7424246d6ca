/**
 * The VM driver. State lives on disk (`vm.json`) and in /proc (the UML processes), so a restarted
 * agent finds everything again. `VmManager` holds the registry (names, configs, processes) and
 * composes the parts, each in its own file:
 *
 *   tasks.ts       TaskRunner     per-VM locks, task records, task() with progress events
 *   boot-log.ts                   boot logs (one per boot the agent starts), BootWatch
 *   vm-status.ts   VmStatusReader vm.status / vm.list, images, host figures
 *   watcher.ts     VmWatcher      rescan after a restart, the 2 s sweep (vm.state events), autostart
 *   lifecycle.ts   Lifecycle      start, reset, shut down, power off
 *   reboot.ts      Reboots        the reboot with its fallback (grace, countdown, hard reset)
 *   provision.ts   Provisioning   create, destroy, owner.remove
 *   vm-manage.ts   VmManage       autostart, memory, storage growth, owner change
 *   disk-space.ts  DiskSpaceGuard the free-space reserve: refusals, pause and resume of writers
 */
import { constants } from "node:fs";
import { readdir, rename, writeFile } from "node:fs/promises";
import type { VmConfig, VmStatus } from "../protocol/agent";
import { isSlug } from "../protocol/names";
import type { AgentConfig } from "./config";
import { isBeingDestroyed, readDestroyMarker } from "./destroy-marker";
import { DiskSpaceGuard } from "./disk-space";
import { AgentFailure } from "./errors";
import type { EventBus } from "./event-bus";
import { mainProcessOfVm, scanUmlProcesses, type UmlProcess } from "./host-procs";
import { type HostUser, lookupHostUser } from "./host-users";
import { Lifecycle } from "./lifecycle";
import { Networking } from "./net/network";
import { Provisioning } from "./provision";
import { Reboots } from "./reboot";
import { readSmallFileNoFollow } from "./safe-fs";
import { TaskRunner } from "./tasks";
import { Transfers } from "./transfer";
import { VmManage } from "./vm-manage";
import { type VmPaths, vmPaths } from "./vm-paths";
import { VmStatusReader } from "./vm-status";
import { VmWatcher } from "./watcher";

export { stableMac } from "./provision";
export type { StepFn, TaskHandle } from "./tasks";

export interface Runtime {
  config: VmConfig;
  paths: VmPaths;
  user: HostUser;
}

export class VmManager {
  readonly startedAt = Date.now();
  readonly tasks: TaskRunner;
  readonly info: VmStatusReader;
  readonly watcher: VmWatcher;
  readonly lifecycle: Lifecycle;
  readonly reboots: Reboots;
  readonly provisioning: Provisioning;
  readonly manage: VmManage;
  /** Images published from another host and cold moves (transfer.ts). */
  readonly transfers: Transfers;
  readonly space: DiskSpaceGuard;
  /** The host network's verbs and checks (net/network.ts); its `host` is null when networking is off. */
  readonly network: Networking;
  /** Set by the socket server: drops console input queued for the old boot (a power action). */
  holdConsoleInput: ((vm: string) => void) | null = null;
  /** The snapshot store (snapshots.ts registers itself): destroy keeps or discards a VM's snapshots. */
  snapshotStore: { keep(vm: string): Promise<string | null>; discard(vm: string): Promise<void> } | null =
    null;

  constructor(
    readonly config: AgentConfig,
    readonly events: EventBus,
    readonly log: (line: string) => void = (line) => console.error(line),
  ) {
    this.watcher = new VmWatcher(this, log);
    this.tasks = new TaskRunner(
      events,
      log,
      (vm) => this.watcher.sweepOne(vm),
      (vm, op) =>
        op !== "vm.destroy" && isBeingDestroyed(vmPaths(config, vm))
          ? `${vm} is being destroyed (a destroy began and did not finish); only destroy is accepted, to finish it`
          : null,
    );
    this.info = new VmStatusReader(this);
    this.lifecycle = new Lifecycle(this, log);
    this.reboots = new Reboots(this, log);
    this.provisioning = new Provisioning(this);
    this.manage = new VmManage(this);
    this.transfers = new Transfers(this);
    this.space = new DiskSpaceGuard(this, log);
    this.network = new Networking(this);
  }

  // ── registry ──────────────────────────────────────────────────────────────────────────────

  async listNames(): Promise<string[]> {
    const entries = await readdir(this.config.vmsDir, { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory() && isSlug(e.name))
      .map((e) => e.name)
      .sort();
  }

  async load(name: string): Promise<Runtime> {
    const paths = vmPaths(this.config, name);
    let config: VmConfig;
    try {
      // vm.json from before networking has neither field: no address, no limit.
      config = {
        ipv4: null,
        rateLimitKbit: null,
        ...JSON.parse(await readSmallFileNoFollow(paths.configFile)),
      };
    } catch {
      throw new AgentFailure("not-found", `no VM named ${name}`);
    }
    const user = await lookupHostUser(this.config, config.owner);
    if (user) return { config, paths, user };
    // A destroy cut short after the host user went: its marker keeps the uid, so it can finish.
    const marker = await readDestroyMarker(paths);
    if (marker) return { config, paths, user: { name: marker.hostUser, uid: marker.uid, gid: marker.gid } };
    throw new AgentFailure("internal", `host user for ${config.owner} is missing`);
  }

  /** For consoles: the VM's runtime when it exists. */
  async runtimeOrNull(name: string): Promise<Runtime | null> {
    return this.load(name).catch(() => null);
  }

  async saveConfig(runtime: Runtime, exclusive = false): Promise<void> {
    const flags = exclusive ? constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY : "w";
    const tmp = `${runtime.paths.configFile}.tmp`;
    if (exclusive) {
      await writeFile(runtime.paths.configFile, `${JSON.stringify(runtime.config, null, 2)}\n`, {
        mode: 0o644,
        flag: flags,
      });
      return;
    }
    await writeFile(tmp, `${JSON.stringify(runtime.config, null, 2)}\n`, { mode: 0o644 });
    await rename(tmp, runtime.paths.configFile);
  }

  async ownersVms(owner: string): Promise<string[]> {
    const out: string[] = [];
    for (const name of await this.listNames()) {
      const runtime = await this.load(name).catch(() => null);
      if (runtime?.config.owner === owner) out.push(name);
    }
    return out;
  }

  // ── processes ─────────────────────────────────────────────────────────────────────────────

  /** What identifies the VM's UML processes in /proc (its umid, its COW, its host user). */
  processKey(runtime: Runtime) {
    return {
      name: runtime.config.name,
      cow: runtime.paths.cow,
      uid: this.config.privileged ? runtime.user.uid : null,
    };
  }

  async mainProcess(runtime: Runtime, all?: readonly UmlProcess[]): Promise<UmlProcess | null> {
    return mainProcessOfVm(all ?? (await scanUmlProcesses()), this.processKey(runtime));
  }

  status(name: string, options?: { guest: boolean; all?: readonly UmlProcess[] }): Promise<VmStatus> {
    return this.info.status(name, options);
  }

  /** Agent stop: no timer of ours keeps running (sweep, reboot waits). VMs are not touched. */
  stop(): void {
    void this.network.forwards?.stop();
    void this.network.dns?.stop();
    this.watcher.stopSweeping();
    this.space.stop();
    this.reboots.stopAll();
  }
}
