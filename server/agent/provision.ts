/**
 * Provisioning: `vm.create` (host user, directories, COW, swap and storage, config; rolled back
 * on failure), `vm.destroy` (snapshots kept or discarded, files removed, the host user with the
 * owner's last VM) and `owner.remove`.
 *
 * Destroy is atomic and retryable (issue 11 point 1): the marker (destroy-marker.ts) is written
 * before anything else, so from then on the VM is `destroying` and takes only vm.destroy; the VM's
 * directory is closed to its user, the VM's processes are ended (end-processes.ts), snapshots
 * kept or discarded, the member-owned directories removed as their owner (remove-tree.ts), the
 * cgroup and netns removed, the host user deleted with the owner's last VM, and last one rename
 * takes the VM away. Run again after an interruption, every step finds its part done or missing.
 * The create-failure cleanup removes the half-made directory the same way.
 */
import { createHash } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import type { ParsedArgsOf, TaskInfo, VmConfig } from "../protocol/agent";
import { macFromIPv4 } from "../protocol/net";
import { cgroupParentFor, confinement, killConfinedVm, removeVmConfinement } from "./confine/vm-confinement";
import { readDestroyMarker, writeDestroyMarker } from "./destroy-marker";
import { endVmProcesses, type VmProcessScope } from "./end-processes";
import { AgentFailure } from "./errors";
import { type RunAs, run } from "./exec";
import { deleteHostUser, ensureHostUser, lookupHostUser } from "./host-users";
import { imagePath } from "./images/publish-image";
import { closeVmDir, commitVmDirRemoval, emptyVmDir, removeGoneVmDirs, removeVmDir } from "./remove-tree";
import { Revert } from "./revert";
import { ensureDir, lstatOrNull } from "./safe-fs";
import { destroyTestPause } from "./snapshot-test-hook";
import { killHolder, TMUX_CONF } from "./tmux";
import type { VmManager } from "./vm-manager";
import { type VmPaths, vmPaths } from "./vm-paths";

export function stableMac(name: string): string {
  const hash = createHash("sha256").update(`zaphod:${name}`).digest();
  return ["02", ...[...hash.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

export class Provisioning {
  constructor(private vms: VmManager) {}

  async create(id: string, args: ParsedArgsOf<"vm.create">): Promise<TaskInfo> {
    const paths = vmPaths(this.vms.config, args.name);
    const image = imagePath(this.vms.config.imagesDir, args.image);
    return this.vms.tasks.task(
      id,
      "vm.create",
      args.name,
      async () => {
        const unlock = this.vms.tasks.lock(args.name, "vm.create");
        try {
          await removeGoneVmDirs(this.vms.config.vmsDir);
          const imageStat = await lstatOrNull(image);
          if (!imageStat?.isFile()) throw new AgentFailure("not-found", `no image named ${args.image}`);
          if (await lstatOrNull(paths.dir))
            throw new AgentFailure("conflict", `a VM named ${args.name} exists`);
          // An address outside the pool, the gateway or another VM's is refused (net/network.ts).
          if (args.ipv4) await this.vms.network.checkAddress(args.name, args.ipv4);
          // Sparse disks: each may grow to its full size (the COW to the image's), so all of it counts.
          await this.vms.space.assertRoom(
            imageStat.size + args.swapMiB * 1024 ** 2 + args.storageGiB * 1024 ** 3,
            "the new VM's disks (each may grow to its full size)",
          );
        } catch (error) {
          unlock();
          throw error;
        }
        return unlock;
      },
      async (unlock, step) => {
        const revert = new Revert();
        try {
          step("host user");
          const { user, created } = await ensureHostUser(this.vms.config, args.owner);
          if (created) revert.add(() => deleteHostUser(this.vms.config, args.owner));
          step("directories");
          await ensureDir(this.vms.config.vmsDir, null, 0o755);
          await ensureDir(paths.dir, null, 0o755);
          // Its processes: every one of the uid when the uid was made for this VM, else those in its tree.
          const scope = this.processScope(args.name, paths, user, created);
          revert.add(() => removeVmDir(paths.dir, { endProcesses: () => endVmProcesses(scope) }));
          for (const dir of [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir]) {
            await ensureDir(dir, user, 0o700);
          }
          step("disks");
          await run(["uml_mkcow", "-f", paths.cow, image], { as: user });
          if (args.swapMiB > 0) {
            await run(["truncate", "-s", `${args.swapMiB}M`, "--", paths.swap], { as: user });
            await run(["mkswap", "-L", "swap", "--", paths.swap], { as: user });
          }
          await run(["truncate", "-s", `${args.storageGiB}G`, "--", paths.storage], { as: user });
          await run(["mkfs.ext4", "-q", "-F", "-L", "storage", "--", paths.storage], { as: user });
          const config: VmConfig = {
            name: args.name,
            owner: args.owner,
            image: args.image,
            memoryMiB: args.memoryMiB,
            storageGiB: args.storageGiB,
            swapMiB: args.swapMiB,
            mac: args.mac ?? (args.ipv4 ? macFromIPv4(args.ipv4) : stableMac(args.name)),
            ipv4: args.ipv4 ?? null,
            rateLimitKbit: null,
            autostart: args.autostart,
            createdAt: new Date().toISOString(),
          };
          await writeFile(paths.tmuxConf, TMUX_CONF, { mode: 0o644 });
          await chmod(paths.tmuxConf, 0o644);
          await this.vms.saveConfig({ config, paths, user }, true);
          revert.success();
          this.vms.events.emit({ v: 1, type: "vm.created", vm: args.name });
          return this.vms.status(args.name, { guest: false });
        } catch (error) {
          await revert.fail();
          throw error;
        } finally {
          unlock();
        }
      },
    );
  }

  async destroy(id: string, args: ParsedArgsOf<"vm.destroy">): Promise<TaskInfo> {
    if (args.confirm !== args.name) {
      throw new AgentFailure("invalid-request", "confirm must repeat the VM name");
    }
    return this.vms.tasks.task(
      id,
      "vm.destroy",
      args.name,
      async () => {
        await removeGoneVmDirs(this.vms.config.vmsDir);
        const runtime = await this.vms.load(args.name);
        const unlock = this.vms.tasks.lock(args.name, "vm.destroy");
        try {
          const earlier = await readDestroyMarker(runtime.paths);
          if (!earlier && (await this.vms.mainProcess(runtime))) {
            throw new AgentFailure("invalid-state", `${args.name} is running; power it off first`);
          }
          return { runtime, unlock, earlier };
        } catch (error) {
          unlock();
          throw error;
        }
      },
      async ({ runtime, unlock, earlier }, step, handle) => {
        try {
          const { paths, user, config } = runtime;
          const name = args.name;
          step("marking it destroyed");
          if (earlier) handle.log(`finishing the destroy begun at ${earlier.startedAt}`);
          const keepSnapshots = args.keepSnapshots || (earlier?.keepSnapshots ?? false);
          await writeDestroyMarker(paths, {
            taskId: earlier?.taskId ?? id,
            startedAt: earlier?.startedAt ?? new Date().toISOString(),
            keepSnapshots,
            owner: config.owner,
            hostUser: user.name,
            uid: user.uid,
            gid: user.gid,
            config,
          });
          await this.vms.watcher.sweepOne(name).catch(() => undefined); // reports `destroying`

          step("ending its processes");
          const others = (await this.vms.ownersVms(config.owner)).filter((vm) => vm !== name);
          const scope = this.processScope(name, paths, user, others.length === 0);
          await killHolder(paths, user);
          await closeVmDir(paths.dir);
          await killConfinedVm(name);
          const ended = await endVmProcesses(scope);
          if (ended > 0) handle.log(`ended ${ended} processes of the VM's host user`);

          if (this.vms.snapshotStore) {
            step(keepSnapshots ? "keeping snapshots" : "removing snapshots");
            if (keepSnapshots) {
              const kept = await this.vms.snapshotStore.keep(name);
              if (kept) handle.log(`snapshots kept on the host in ${kept}`);
            } else await this.vms.snapshotStore.discard(name);
          }
          step("removing disks");
          await emptyVmDir(paths.dir, {
            endProcesses: () => endVmProcesses(scope),
            keepToTheEnd: [basename(paths.configFile), basename(paths.destroyMarker)],
          });
          await removeVmConfinement(name, paths.dir);
          await destroyTestPause(this.vms.config, "after-disks");
          if (others.length === 0) await deleteHostUser(this.vms.config, config.owner);
          step("removing the VM");
          await commitVmDirRemoval(paths.dir);
          await this.vms.network.forgetVm(name);
          this.vms.watcher.forget(name);
          this.vms.events.emit({ v: 1, type: "vm.destroyed", vm: name });
          return null;
        } finally {
          unlock();
        }
      },
    );
  }

  /** Which processes are the VM's (end-processes.ts): the whole uid when no other VM of the owner uses it. */
  private processScope(name: string, paths: VmPaths, user: RunAs, wholeUid: boolean): VmProcessScope {
    return {
      uid: user.uid,
      vmDir: paths.dir,
      cgroup: confinement() ? `/${cgroupParentFor(this.vms.config)}/${name}` : null,
      wholeUid: wholeUid && this.vms.config.privileged,
    };
  }

  /** Removes an owner's host user (an account being deleted); refused while the owner has a VM. */
  async removeOwner(owner: string): Promise<{ owner: string; removed: boolean }> {
    const vms = await this.vms.ownersVms(owner);
    if (vms.length > 0) {
      throw new AgentFailure("invalid-state", `${owner} still owns ${vms.join(", ")}`);
    }
    if (!this.vms.config.privileged) return { owner, removed: false };
    const existed = Boolean(await lookupHostUser(this.vms.config, owner));
    if (existed) await deleteHostUser(this.vms.config, owner);
    return { owner, removed: existed && !(await lookupHostUser(this.vms.config, owner)) };
  }
}
