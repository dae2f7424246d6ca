/**
 * Provisioning: `vm.create` (host user, directories, COW, swap and storage, config; rolled back
 * on failure), `vm.destroy` (snapshots kept or discarded, files removed, the host user with the
 * owner's last VM) and `owner.remove`.
 */
import { createHash } from "node:crypto";
import { chmod, writeFile } from "node:fs/promises";
import type { ParsedArgsOf, TaskInfo, VmConfig } from "../protocol/agent";
import { removeVmConfinement } from "./confine/vm-confinement";
import { AgentFailure } from "./errors";
import { run } from "./exec";
import { deleteHostUser, ensureHostUser, lookupHostUser } from "./host-users";
import { imagePath } from "./images/publish-image";
import { removeVmDir } from "./remove-tree";
import { Revert } from "./revert";
import { ensureDir, lstatOrNull } from "./safe-fs";
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
          const imageStat = await lstatOrNull(image);
          if (!imageStat?.isFile()) throw new AgentFailure("not-found", `no image named ${args.image}`);
          if (await lstatOrNull(paths.dir))
            throw new AgentFailure("conflict", `a VM named ${args.name} exists`);
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
          revert.add(() => removeVmDir(paths.dir, this.memberDirs(paths), user));
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
            mac: args.mac ?? stableMac(args.name),
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
        const runtime = await this.vms.load(args.name);
        const unlock = this.vms.tasks.lock(args.name, "vm.destroy");
        if (await this.vms.mainProcess(runtime)) {
          unlock();
          throw new AgentFailure("invalid-state", `${args.name} is running; power it off first`);
        }
        return { runtime, unlock };
      },
      async ({ runtime, unlock }, step, handle) => {
        try {
          const { paths, user } = runtime;
          if (this.vms.snapshotStore) {
            step(args.keepSnapshots ? "keeping snapshots" : "removing snapshots");
            if (args.keepSnapshots) {
              const kept = await this.vms.snapshotStore.keep(args.name);
              if (kept) handle.log(`snapshots kept on the host in ${kept}`);
            } else await this.vms.snapshotStore.discard(args.name);
          }
          step("removing disks");
          await killHolder(paths, user);
          await removeVmConfinement(args.name, paths.dir);
          await removeVmDir(paths.dir, this.memberDirs(paths), user);
          const others = await this.vms.ownersVms(runtime.config.owner);
          if (others.length === 0) await deleteHostUser(this.vms.config, runtime.config.owner);
          this.vms.watcher.forget(args.name);
          this.vms.events.emit({ v: 1, type: "vm.destroyed", vm: args.name });
          return null;
        } finally {
          unlock();
        }
      },
    );
  }

  /** The VM's directories that belong to its host user (removed as that user). */
  private memberDirs(paths: VmPaths): string[] {
    return [paths.diskDir, paths.runDir, paths.ramDir, paths.consoleDir];
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
