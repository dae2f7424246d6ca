/**
 * Builds a Debian 12 (bookworm) root image that configures itself from the VM's seed disk with
 * cloud-init (issue 12 point 3):
 *   npm run image:debian -- [--name debian-12-1] [--data-dir DIR] [--mirror URL]
 *     [--tool mmdebstrap|debootstrap]
 * mmdebstrap when installed (apt's resolver, parallel downloads), else debootstrap; both take the
 * same arguments. Tweaks for UML (uml.md §6): a getty on the console (tty0; con=null leaves tty1
 * dead), root with an empty password for the console only, swap on /dev/ubdb when the VM has one,
 * storage on /data, hostname from the kernel command line (zvm.hostname=), Ctrl-Alt-Del reboots.
 *
 * cloud-init reads only the NoCloud seed (the agent's `cidata` disk, /dev/ubdd) and fetches
 * nothing; it renders the network config for ifupdown (DNS through resolvconf). sshd takes keys
 * only: no password, keyboard-interactive or empty-password login over the network, whatever
 * root's password is. The host keys made by the install are removed (every VM would share them):
 * cloud-init writes the VM's own from the seed, and without a seed sshd has no key and does not
 * start.
 */

import { existsSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { run, SAFE_PATH } from "../exec";
import { assertImageNameFree, publishImage } from "./publish-image";

// Swap is not in fstab: a VM with no swap has no /dev/ubdb, and systemd holds sysinit.target for
// a missing fstab device's 90 s timeout (measured without udev, nofail too: swap.target on the
// critical chain, SSH at 103 s); zvm-swap.service turns it on when the disk is there.
const FSTAB = `/dev/ubda  /      ext4  defaults,errors=remount-ro  0 1
/dev/ubdc  /data  ext4  defaults,nofail             0 2
`;
const SWAP_UNIT = `[Unit]
Description=swap on /dev/ubdb when the VM has a swap disk
DefaultDependencies=no
ConditionPathExists=/dev/ubdb
Before=swap.target

[Service]
Type=oneshot
ExecStart=/sbin/swapon /dev/ubdb

[Install]
WantedBy=swap.target
`;

const HOSTNAME_SCRIPT = `#!/bin/sh
for arg in $(cat /proc/cmdline); do
  case "$arg" in zvm.hostname=*) hostname "\${arg#zvm.hostname=}" ;; esac
done
`;

/** What the image holds beyond minbase; nothing that is not needed to boot, configure and serve SSH. */
const PACKAGES = [
  "procps",
  "e2fsprogs",
  "kmod",
  // Device units: without udev systemd waits 90 s for every disk in fstab.
  "udev",
  "iproute2",
  "ifupdown",
  "resolvconf",
  "netbase",
  "cloud-init",
  // python3-cryptography (cloud-init's oauthlib) needs the virtual python3-cffi-backend-api-max,
  // which debootstrap does not resolve: name its provider.
  "python3-cffi-backend",
  "openssh-server",
];

/**
 * Only the seed disk, no metadata service, no package or locale work (each a slow Python or
 * shell step under UML's ptrace); the modules kept are the ones a seed uses (hostname, users,
 * keys, passwords, files, commands) and the console report of the host keys.
 */
const CLOUD_CFG = `# zaphod: the VM's seed disk (NoCloud, label cidata) is the only source; nothing is fetched.
datasource_list: [ NoCloud, None ]
datasource:
  NoCloud: {}
system_info:
  network:
    renderers: [ eni ]
cloud_init_modules:
  - seed_random
  - bootcmd
  - write-files
  - set_hostname
  - update_hostname
  - update_etc_hosts
  - users-groups
  - ssh
cloud_config_modules:
  - set-passwords
  - timezone
  - runcmd
cloud_final_modules:
  - write-files-deferred
  - scripts-vendor
  - scripts-per-once
  - scripts-per-boot
  - scripts-per-instance
  - scripts-user
  - ssh-authkey-fingerprints
  - keys-to-console
  - final-message
`;

/** Read before the main sshd_config (its Include comes first; the first value wins). */
const SSHD_CONFIG = `# zaphod: over the network root logs in with a key only; the console stays for rescue.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
`;

/**
 * Between cloud-init's local stage (which records the seed's instance-id) and its network stage
 * (users and keys): prints the seed this boot applies on the console, where the agent reads it
 * back (`vm.access`, as from the busybox image), and on a new seed empties root's
 * authorized_keys, so root's keys are the panel's: cloud-init only adds keys, and one the member
 * removed would still log in.
 */
const SEED_SCRIPT = `#!/bin/sh
id=$(cat /var/lib/cloud/data/instance-id 2>/dev/null) || exit 0
echo "seed: instance-id $id"
state=/var/lib/zaphod/seed-instance-id
[ "$(cat $state 2>/dev/null)" = "$id" ] && exit 0
[ -f /root/.ssh/authorized_keys ] && : > /root/.ssh/authorized_keys
mkdir -p /var/lib/zaphod && echo "$id" > $state
`;

const SEED_UNIT = `[Unit]
Description=the seed's instance-id on the console; a new seed's keys replace root's
DefaultDependencies=no
After=cloud-init-local.service
Before=cloud-init.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/zvm-seed
StandardOutput=journal+console

[Install]
WantedBy=cloud-init.target
`;

/** The UML kernel's iso9660 module and its dependency, so an unconfined guest mounts its seed too. */
async function copySeedModules(root: string): Promise<void> {
  const base = "/usr/lib/uml/modules";
  const versions = await readdir(base).catch(() => [] as string[]);
  if (versions.length !== 1) return;
  const version = versions[0] as string;
  const from = join(base, version);
  const to = join(root, "lib/modules", version);
  for (const file of [
    "kernel/drivers/cdrom/cdrom.ko",
    "kernel/fs/isofs/isofs.ko",
    "modules.builtin",
    "modules.builtin.modinfo",
    "modules.order",
  ]) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(join(from, file), join(to, file)).catch(() => undefined);
  }
  await run(["chroot", root, "depmod", version]);
}

export type BootstrapTool = "mmdebstrap" | "debootstrap";

/** mmdebstrap when installed (apt resolves the dependencies, downloads in parallel), else debootstrap. */
function defaultTool(): BootstrapTool {
  const found = SAFE_PATH.split(":").some((dir) => existsSync(join(dir, "mmdebstrap")));
  return found ? "mmdebstrap" : "debootstrap";
}

export async function buildDebianImage(options: {
  imagesDir: string;
  name: string;
  mirror?: string;
  sizeMiB?: number;
  tool?: BootstrapTool;
  log?: (line: string) => void;
}): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error("debootstrap needs root");
  const log = options.log ?? ((line: string) => console.error(line));
  await assertImageNameFree(options.imagesDir, options.name);
  const work = await mkdtemp("/var/tmp/zaphod-debian-");
  const root = join(work, "root");
  try {
    const tool = options.tool ?? defaultTool();
    const started = Date.now();
    await run(
      [
        tool,
        "--variant=minbase",
        `--include=${["systemd-sysv", ...PACKAGES].join(",")}`,
        "bookworm",
        root,
        options.mirror ?? "http://deb.debian.org/debian",
      ],
      { timeoutMs: 30 * 60_000 },
    );
    log(`${tool}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await writeFile(join(root, "etc/fstab"), FSTAB);
    await run(["mkdir", "-p", "--", join(root, "data")]);
    await writeFile(join(root, "etc/hostname"), "zaphod\n");
    await run(["chroot", root, "passwd", "-d", "root"]);
    await writeFile(join(root, "usr/local/sbin/zvm-hostname"), HOSTNAME_SCRIPT);
    await chmod(join(root, "usr/local/sbin/zvm-hostname"), 0o755);
    await writeFile(join(root, "usr/local/sbin/zvm-seed"), SEED_SCRIPT);
    await chmod(join(root, "usr/local/sbin/zvm-seed"), 0o755);
    await writeFile(join(root, "etc/cloud/cloud.cfg.d/90-zaphod.cfg"), CLOUD_CFG);
    await writeFile(join(root, "etc/ssh/sshd_config.d/zaphod.conf"), SSHD_CONFIG);
    for (const file of await readdir(join(root, "etc/ssh")))
      if (file.startsWith("ssh_host_")) await rm(join(root, "etc/ssh", file));
    // DNS from the seed reaches resolv.conf through resolvconf (ifupdown's dns-nameservers).
    await rm(join(root, "etc/resolv.conf"), { force: true });
    await symlink("../run/resolvconf/resolv.conf", join(root, "etc/resolv.conf"));
    // Each VM makes its own machine id at its first boot.
    await writeFile(join(root, "etc/machine-id"), "");
    await copySeedModules(root);
    const wants = join(root, "etc/systemd/system/getty.target.wants");
    await run(["mkdir", "-p", "--", wants]);
    await symlink("/lib/systemd/system/console-getty.service", join(wants, "console-getty.service"));
    await symlink("/dev/null", join(root, "etc/systemd/system/getty@tty1.service"));
    // e2scrub's snapshot clean-up (6 s of the boot) has nothing to do in a VM without LVM.
    for (const unit of ["e2scrub_reap.service", "e2scrub_all.timer"])
      await symlink("/dev/null", join(root, "etc/systemd/system", unit));
    await writeFile(
      join(root, "etc/systemd/system/zvm-hostname.service"),
      "[Unit]\nDescription=hostname from zvm.hostname=\nDefaultDependencies=no\nBefore=sysinit.target\n\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/zvm-hostname\n\n[Install]\nWantedBy=sysinit.target\n",
    );
    await run(["chroot", root, "systemctl", "enable", "zvm-hostname.service"]);
    await writeFile(join(root, "etc/systemd/system/zvm-seed.service"), SEED_UNIT);
    await writeFile(join(root, "etc/systemd/system/zvm-swap.service"), SWAP_UNIT);
    await run(["chroot", root, "systemctl", "enable", "zvm-seed.service", "zvm-swap.service"]);
    await run(["chroot", root, "apt-get", "clean"]);
    await rm(join(root, "var/lib/apt/lists"), { recursive: true, force: true });
    await mkdir(join(root, "var/lib/apt/lists/partial"), { recursive: true });
    const out = join(work, "image.ext4");
    await run([
      "mkfs.ext4",
      "-q",
      "-F",
      "-E",
      "lazy_itable_init=0,lazy_journal_init=0",
      "-L",
      "root",
      "-d",
      root,
      "--",
      out,
      `${options.sizeMiB ?? 1024}M`,
    ]);
    return await publishImage(options.imagesDir, options.name, out, "debian");
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { loadConfig } = await import("../config");
  const argv = process.argv.slice(2);
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dataDir = arg("--data-dir");
  if (dataDir) process.env.ZAPHOD_DATA_DIR = dataDir;
  const config = loadConfig();
  const name = arg("--name") ?? `debian-12-${new Date().toISOString().slice(0, 10).replaceAll("-", "")}`;
  if (arg("--init") !== undefined && arg("--init") !== "systemd")
    throw new Error("--init is systemd only: the seed's units (keys, swap, instance-id) are systemd's");
  const toolArg = arg("--tool");
  if (toolArg !== undefined && toolArg !== "mmdebstrap" && toolArg !== "debootstrap")
    throw new Error("--tool is mmdebstrap or debootstrap");
  const started = Date.now();
  const path = await buildDebianImage({
    imagesDir: config.imagesDir,
    name,
    mirror: arg("--mirror"),
    tool: toolArg,
  });
  console.error(`image ${name}: ${path} built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

// Run as a program (also through a symlinked release directory: import.meta.url is the real path).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((error) => {
    console.error(`image:debian: ${(error as Error).message}`);
    process.exit(1);
  });
}
