/**
 * Changes to a VM's configuration (`vm.manage`): autostart and memory (for the next boot), and the
 * offline ones, refused while the VM runs: storage growth and owner change.
 */
import { constants } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { join } from "node:path";
import type { GuestAccess, Op, ParsedArgsOf, TaskInfo, VmAccessInfo, VmConfig } from "../protocol/agent";
import { AgentFailure } from "./errors";
import { run } from "./exec";
import { deleteHostUser, ensureHostUser, type HostUser } from "./host-users";
import { removeTree } from "./remove-tree";
import { Revert } from "./revert";
import { lstatOrNull } from "./safe-fs";
import { copySparse, openDiskNoFollow } from "./snapshot-copy";
import { killHolder } from "./tmux";
import type { Runtime, VmManager } from "./vm-manager";
import { accessInfo, setAccess } from "./vm-seed";

export class VmManage {
  constructor(private vms: VmManager) {}

  async setAutostart(name: string, autostart: boolean): Promise<VmConfig> {
    const unlock = this.vms.tasks.lock(name, "vm.setAutostart");
    try {
      const runtime = await this.vms.load(name);
      runtime.config.autostart = autostart;
      await this.vms.saveConfig(runtime);
      return runtime.config;
    } finally {
      unlock();
    }
  }

  /** Root's SSH keys and password hash for the guest's next boot (its seed disk; vm-seed.ts). */
  async setAccess(name: string, access: GuestAccess): Promise<VmAccessInfo> {
    const unlock = this.vms.tasks.lock(name, "vm.setAccess");
    try {
      const runtime = await this.vms.load(name);
      const running = Boolean(await this.vms.mainProcess(runtime));
      return await setAccess(runtime, access, running, this.vms.config.privileged);
    } finally {
      unlock();
    }
  }

  async access(name: string): Promise<VmAccessInfo> {
    const runtime = await this.vms.load(name);
    return accessInfo(runtime, Boolean(await this.vms.mainProcess(runtime)));
  }

  /** Memory for the next boot: the running UML keeps what it booted with. */
  async setMemory(name: string, memoryMiB: number): Promise<VmConfig> {
    const unlock = this.vms.tasks.lock(name, "vm.setMemory");
    try {
      const runtime = await this.vms.load(name);
      runtime.config.memoryMiB = memoryMiB;
      await this.vms.saveConfig(runtime);
      return runtime.config;
    } finally {
      unlock();
    }
  }

  /** Takes the VM's lock for offline work: refused while the VM runs. */
  private async stopped(name: string, op: Op, what: string) {
    const runtime = await this.vms.load(name);
    const unlock = this.vms.tasks.lock(name, op);
    if (await this.vms.mainProcess(runtime)) {
      unlock();
      throw new AgentFailure("invalid-state", `${name} is running; shut it down before ${what}`);
    }
    return { runtime, unlock };
  }

  /**
   * Offline storage growth: the image file grows (sparse), then `e2fsck -f` and `resize2fs` grow
   * its ext4 — all three run as the VM's host user on the file in its own directory, so nothing
   * the member planted there is reached with more than the member's rights. The agent first opens
   * the file itself (O_NOFOLLOW, a regular file of that user) and refuses anything else.
   */
  async growStorage(id: string, args: ParsedArgsOf<"vm.growStorage">): Promise<TaskInfo> {
    return this.vms.tasks.task(
      id,
      "vm.growStorage",
      args.name,
      async () => {
        const held = await this.stopped(args.name, "vm.growStorage", "growing its storage");
        const current = held.runtime.config.storageGiB;
        if (args.storageGiB <= current) {
          held.unlock();
          throw new AgentFailure(
            "invalid-request",
            `storage only grows: ${args.name} has ${current} GiB, asked for ${args.storageGiB} GiB`,
          );
        }
        try {
          await this.vms.space.assertRoom((args.storageGiB - current) * 1024 ** 3, "the larger storage disk");
        } catch (error) {
          held.unlock();
          throw error;
        }
        return held;
      },
      async ({ runtime, unlock }, step, handle) => {
        const { paths, user } = runtime;
        try {
          step("checking the disk");
          const file = await openDiskNoFollow(
            paths.storage,
            this.vms.config.privileged ? user.uid : null,
          ).catch(() => {
            throw new AgentFailure(
              "invalid-state",
              "the storage disk is not a regular file of the VM's user; nothing was changed",
            );
          });
          const before = (await file.stat()).size;
          await file.close();
          const as = { as: user, timeoutMs: 600_000 };
          step("growing the disk file");
          await run(["truncate", "-s", `${args.storageGiB}G`, "--", paths.storage], as);
          try {
            step("checking the filesystem");
            const fsck = await run(["e2fsck", "-f", "-p", "--", paths.storage], {
              ...as,
              allowFailure: true,
            });
            // 0: clean, 1: errors corrected; anything else needs a human.
            if (fsck.code !== 0 && fsck.code !== 1) {
              throw new AgentFailure(
                "invalid-state",
                `e2fsck found problems it did not fix (exit ${fsck.code}); storage left at its size`,
              );
            }
            step("growing the filesystem");
            await run(["resize2fs", "--", paths.storage], as);
          } catch (error) {
            // The filesystem was not grown: give the file its old size back.
            await run(["truncate", "-s", String(before), "--", paths.storage], { as: user }).catch(
              () => undefined,
            );
            throw error;
          }
          handle.log(`storage grown from ${runtime.config.storageGiB} GiB to ${args.storageGiB} GiB`);
          runtime.config.storageGiB = args.storageGiB;
          await this.vms.saveConfig(runtime);
          return this.vms.status(args.name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /**
   * Offline owner change. With a root agent the VM's files must end up owned by the new owner's
   * host user and out of reach of the old one. The old user controls the VM's directories (it may
   * plant symlinks or hard links there, or still hold a descriptor on a disk file), so the agent
   * neither chowns nor renames anything inside them: it opens each disk file itself (O_NOFOLLOW, a
   * regular file of the old user), copies it (sparse) into fresh files it creates in a new
   * directory of its own, hands those to the new user by descriptor (fchown), swaps the directories
   * (in the root-owned VM directory, where only root can rename), and removes the old user's
   * directories through the removal routine as the old user. Console logs are not carried over.
   */
  async setOwner(id: string, args: ParsedArgsOf<"vm.setOwner">): Promise<TaskInfo> {
    return this.vms.tasks.task(
      id,
      "vm.setOwner",
      args.name,
      async () => {
        const held = await this.stopped(args.name, "vm.setOwner", "changing its owner");
        if (held.runtime.config.owner === args.owner) {
          held.unlock();
          throw new AgentFailure("invalid-request", `${args.name} is already owned by ${args.owner}`);
        }
        return held;
      },
      async ({ runtime, unlock }, step, handle) => {
        const { paths, config } = runtime;
        const oldUser = runtime.user;
        const oldOwner = config.owner;
        const revert = new Revert();
        try {
          step("host user");
          const { user, created } = await ensureHostUser(this.vms.config, args.owner);
          if (created) revert.add(() => deleteHostUser(this.vms.config, args.owner));
          await killHolder(paths, oldUser);
          if (this.vms.config.privileged) {
            step("copying disks");
            await this.copyDisksTo(runtime, user, revert);
          }
          runtime.config.owner = args.owner;
          runtime.user = user;
          await this.vms.saveConfig(runtime);
          revert.success();
          handle.log(`owner changed from ${oldOwner} to ${args.owner}`);
        } catch (error) {
          await revert.fail();
          unlock();
          throw error;
        }
        try {
          if (this.vms.config.privileged) {
            step("removing the old owner's files");
            await removeTree(join(paths.dir, "disk.old"), oldUser);
            for (const dir of [paths.runDir, paths.ramDir, paths.consoleDir]) await removeTree(dir, oldUser);
            await this.vms.lifecycle.prepareDirs(runtime);
            if ((await this.vms.ownersVms(oldOwner)).length === 0)
              await deleteHostUser(this.vms.config, oldOwner);
          }
          return this.vms.status(args.name, { guest: false });
        } finally {
          unlock();
        }
      },
    );
  }

  /** Fresh copies of the disks, owned by `user`, swapped in for the old user's disk directory. */
  private async copyDisksTo(runtime: Runtime, user: HostUser, revert: Revert): Promise<void> {
    const { paths } = runtime;
    const staging = join(paths.dir, "disk.new");
    const aside = join(paths.dir, "disk.old");
    await removeTree(staging, user); // left by an interrupted change
    await removeTree(aside, runtime.user);
    await mkdir(staging, { mode: 0o700 });
    revert.add(() => removeTree(staging, user));
    for (const [src, file] of [
      [paths.cow, "root.cow"],
      [paths.swap, "swap.img"],
      [paths.storage, "storage.img"],
    ] as const) {
      if (!(await lstatOrNull(src))) continue;
      const from = await openDiskNoFollow(src, runtime.user.uid).catch(() => {
        throw new AgentFailure(
          "invalid-state",
          `${file} is not a regular file of the VM's user; nothing was changed`,
        );
      });
      try {
        const to = await open(
          join(staging, file),
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o600,
        );
        try {
          await to.chown(user.uid, user.gid);
          await copySparse(from, to);
          await to.sync();
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    }
    const dir = await open(staging, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await dir.chown(user.uid, user.gid);
      await dir.sync();
    } finally {
      await dir.close();
    }
    // Both renames happen in the root-owned VM directory: the member cannot interfere.
    await rename(paths.diskDir, aside);
    revert.add(() => rename(aside, paths.diskDir));
    await rename(staging, paths.diskDir);
    revert.add(() => rename(paths.diskDir, staging));
  }
}
