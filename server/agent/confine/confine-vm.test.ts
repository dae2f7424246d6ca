import { describe, expect, it } from "vitest";
import {
  type ConfineVmOptions,
  confinedHolderArgv,
  confinedUmlArgv,
  hostfsRoot,
  sandboxSpec,
} from "./confine-vm";

const dir = "/var/lib/zaphod/vms/alice";
const options: ConfineVmOptions = {
  name: "alice",
  user: { uid: 1001, gid: 1001 },
  memoryMiB: 64,
  paths: {
    dir,
    diskDir: `${dir}/disk`,
    runDir: `${dir}/run`,
    consoleDir: `${dir}/console`,
    ramDir: `${dir}/ram`,
    umlDir: `${dir}/run/alice`,
    tmuxSocket: `${dir}/run/tmux.sock`,
    tmuxConf: `${dir}/tmux.conf`,
  },
  readOnly: ["/var/lib/zaphod/images/busybox-1.ext4", "/var/lib/zaphod/lib/uml-xstate.so"],
  initramfs: "/var/lib/zaphod/lib/initramfs.cpio",
  netns: "/run/netns/zaphod-alice",
  nice: 3,
  cgroupProcs: ["/sys/fs/cgroup/pids/zaphod/alice/cgroup.procs"],
};

const plain = [
  "/usr/bin/env",
  "LD_PRELOAD=/var/lib/zaphod/lib/uml-xstate.so",
  "/usr/bin/linux.uml",
  "mem=64M",
  `ubd0=${dir}/disk/root.cow,/var/lib/zaphod/images/busybox-1.ext4`,
  `hostfs=${dir}/ram/no-hostfs`,
  "root=/dev/ubda",
];

describe("confinedUmlArgv", () => {
  it("adds the initramfs and points hostfs at the sandbox's empty directory, keeping the rest", () => {
    expect(confinedUmlArgv(plain, options)).toEqual([
      ...plain.slice(0, 4),
      "initrd=/var/lib/zaphod/lib/initramfs.cpio",
      plain[4],
      `hostfs=${hostfsRoot(options.paths)}`,
      "root=/dev/ubda",
    ]);
  });

  it("adds hostfs= when the plain argv had none, and no initrd when there is no initramfs", () => {
    const argv = confinedUmlArgv(["linux.uml", "mem=64M"], { ...options, initramfs: null });
    expect(argv).toEqual(["linux.uml", "mem=64M", `hostfs=${dir}/hostfs-empty`]);
  });

  it("refuses an argv that already names an initrd", () => {
    expect(() => confinedUmlArgv([...plain, "initrd=/tmp/x"], options)).toThrow(/initrd/);
  });
});

describe("sandboxSpec", () => {
  it("sizes the RAM tmpfs to memory + 16 MiB and sets TMPDIR to it", () => {
    const spec = sandboxSpec(options, { HOME: `${dir}/run` });
    expect(spec.ram).toEqual({ dir: `${dir}/ram`, bytes: (64 + 16) * 1024 * 1024 });
    expect(spec.env.TMPDIR).toBe(`${dir}/ram`);
    expect(spec.writable).toEqual([`${dir}/disk`, `${dir}/run`, `${dir}/console`]);
    expect(spec.readOnly).toContain(options.initramfs);
    expect(spec.readOnly).toContain(`${dir}/tmux.conf`);
  });

  it("gives the holder's tmux command list to the keeper inside the sandbox", () => {
    const argv = confinedHolderArgv(options, { HOME: `${dir}/run` }, [
      "-f",
      `${dir}/tmux.conf`,
      "new-session",
    ]);
    expect(argv.slice(-6)).toEqual([
      "zaphod-keeper",
      `${dir}/run/tmux.sock`,
      `${dir}/run/alice`,
      "-f",
      `${dir}/tmux.conf`,
      "new-session",
    ]);
  });
});
