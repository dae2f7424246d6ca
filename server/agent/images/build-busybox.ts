/**
 * Builds the small busybox root image used by the demo and the tests, in seconds:
 *   npm run image:busybox -- [--name busybox-1] [--data-dir DIR]
 * Console login as root with an empty password, Ctrl-Alt-Del reboots cleanly, swap on /dev/ubdb
 * and the storage disk /dev/ubdc on /data (as in the seed). When a mount in /etc/fstab fails,
 * rcS stops at a maintenance prompt and waits at a shell (so status shows waiting-at-console).
 */

import { realpathSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { run } from "../exec";
import { assertImageNameFree, publishImage } from "./publish-image";

const INITTAB = `::sysinit:/etc/init.d/rcS
::respawn:/sbin/getty -L 0 tty0 screen
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
::shutdown:/sbin/swapoff -a
::shutdown:/bin/umount -a -r
::shutdown:/bin/sync
::restart:/sbin/init
`;

const RCS = `#!/bin/sh
# zaphod busybox image: early boot
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
hn=
for arg in $(cat /proc/cmdline); do
  case "$arg" in zvm.hostname=*) hn="\${arg#zvm.hostname=}" ;; esac
done
hostname "\${hn:-zaphod}"
mount -o remount,rw /
swapon -a
/etc/init.d/seed
if ! mount -a -t noswap; then
  echo
  echo "mount failed: check /etc/fstab"
  echo "Give root password for maintenance"
  echo "(or press Control-D to continue):"
  setsid cttyhack /bin/sh -l
fi
`;

// The VM's seed disk (cloud-init's NoCloud format, label cidata), which the agent attaches as the
// fourth disk: this image reads the plain files under zaphod/ (one value each) instead of
// cloud-init's YAML. Hostname, root's password hash and SSH keys, the VM's SSH host keys, eth0's
// addresses, routes and DNS; then dropbear, keys only (-s: no password logins over the network).
const SEED = `#!/bin/sh
seed=/run/seed
[ -b /dev/ubdd ] || exit 0
mkdir -p $seed
# A confined VM's initramfs has loaded isofs (and then turned module loading off); unconfined, load it here.
grep -qw iso9660 /proc/filesystems || { insmod /lib/modules/cdrom.ko; insmod /lib/modules/isofs.ko; } 2>/dev/null
mount -t iso9660 -o ro /dev/ubdd $seed || { echo "seed: /dev/ubdd is not a seed disk"; exit 0; }
z=$seed/zaphod
# The agent reads this line back from the boot's console: the seed this boot applied.
echo "seed: instance-id $(cat $z/instance-id)"
[ -f $z/hostname ] && hostname "$(cat $z/hostname)"
if [ -f $z/root-hash ]; then
  echo "root:$(cat $z/root-hash):20000:0:99999:7:::" > /etc/shadow
  chmod 600 /etc/shadow
  sed -i 's#^root:[^:]*:#root:x:#' /etc/passwd
  echo "zaphod busybox (root's password is the one set in the panel)" > /etc/issue
  echo >> /etc/issue
fi
mkdir -p /root/.ssh
chmod 700 /root/.ssh
cp $z/authorized_keys /root/.ssh/authorized_keys 2>/dev/null && chmod 600 /root/.ssh/authorized_keys
if [ -f $z/ipv4 ] || [ -f $z/ipv6 ]; then
  ip link set lo up
  # The VM's network device by its MAC (vec0 on UML's vector driver, eth0 on tuntap) is eth0.
  mac=$(tr A-F a-f < $z/mac)
  for d in /sys/class/net/*; do
    n=\${d##*/}
    [ "$n" != eth0 ] && [ "$(cat $d/address)" = "$mac" ] && ip link set "$n" name eth0
  done
  ip link set eth0 up
  [ -f $z/ipv4 ] && ip addr add "$(cat $z/ipv4)" dev eth0
  [ -f $z/gateway4 ] && ip route add default via "$(cat $z/gateway4)"
  # No duplicate address detection: the agent's per-port rules already keep the address this VM's
  # own, and without it the address is usable at once instead of tentative for a second or two.
  echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad 2>/dev/null
  [ -f $z/ipv6 ] && ip -6 addr add "$(cat $z/ipv6)" dev eth0
  [ -f $z/gateway6 ] && ip -6 route add default via "$(cat $z/gateway6)"
  [ -f $z/dns ] && sed 's/^/nameserver /' $z/dns > /etc/resolv.conf
fi
keys=
mkdir -p /etc/dropbear
for t in ed25519 ecdsa rsa; do
  [ -f $z/ssh_host_\${t}_key ] || continue
  dropbearconvert openssh dropbear $z/ssh_host_\${t}_key /etc/dropbear/dropbear_\${t}_host_key >/dev/null 2>&1 &&
    keys="$keys -r /etc/dropbear/dropbear_\${t}_host_key"
done
[ -n "$keys" ] && dropbear -s $keys && echo "seed: ssh (dropbear) listening on port 22"
`;

const FSTAB = `# device  mountpoint  type  options  dump  pass
proc       /proc  proc  defaults  0 0
/dev/ubdb  none   swap  sw        0 0
/dev/ubdc  /data  ext4  defaults  0 2
`;

const FILES: Record<string, { text: string; mode: number }> = {
  "etc/inittab": { text: INITTAB, mode: 0o644 },
  "etc/init.d/rcS": { text: RCS, mode: 0o755 },
  "etc/init.d/seed": { text: SEED, mode: 0o755 },
  "etc/fstab": { text: FSTAB, mode: 0o644 },
  "etc/passwd": { text: "root::0:0:root:/root:/bin/sh\n", mode: 0o644 },
  "etc/group": { text: "root:x:0:\n", mode: 0o644 },
  "etc/hostname": { text: "zaphod\n", mode: 0o644 },
  "etc/issue": { text: "zaphod busybox (root, no password)\n\n", mode: 0o644 },
  "etc/profile": { text: 'export PS1="\\h:\\w# "\nexport PATH=/sbin:/usr/sbin:/bin:/usr/bin\n', mode: 0o644 },
  "etc/shells": { text: "/bin/sh\n/bin/ash\n", mode: 0o644 },
};

const DROPBEAR = ["/usr/sbin/dropbear", "/usr/bin/dropbearconvert"];

/** Copies a dynamically linked host program into the image with every library `ldd` names. */
async function copyProgram(root: string, program: string): Promise<void> {
  const { stdout } = await run(["ldd", "--", program], { allowFailure: true });
  if (!stdout.includes("libc.so"))
    throw new Error(`${program} is missing or not a program (install Debian's dropbear-bin)`);
  const libs = [...stdout.matchAll(/(?:=> )?(\/[^\s]+) \(0x[0-9a-f]+\)/g)].map((m) => m[1] as string);
  for (const file of [program, ...libs]) {
    await mkdir(join(root, dirname(file)), { recursive: true });
    await run(["cp", "-L", "--", file, join(root, file)]);
  }
}

/** The UML kernel's isofs module and its one dependency, for an unconfined VM to read its seed disk. */
async function copyIsofsModules(root: string): Promise<void> {
  const versions = await readdir("/usr/lib/uml/modules").catch(() => [] as string[]);
  const dir = versions.length === 1 ? join("/usr/lib/uml/modules", versions[0] as string, "kernel") : null;
  if (!dir) return;
  await mkdir(join(root, "lib/modules"), { recursive: true });
  for (const ko of ["drivers/cdrom/cdrom.ko", "fs/isofs/isofs.ko"])
    await run(["cp", "--", join(dir, ko), join(root, "lib/modules", ko.slice(ko.lastIndexOf("/") + 1))], {
      allowFailure: true,
    });
}

export interface BuildBusyboxOptions {
  imagesDir: string;
  name: string;
  sizeMiB?: number;
  log?: (line: string) => void;
}

export async function buildBusyboxImage(options: BuildBusyboxOptions): Promise<string> {
  const log = options.log ?? ((line: string) => console.error(line));
  await mkdir(options.imagesDir, { recursive: true, mode: 0o755 });
  await assertImageNameFree(options.imagesDir, options.name);
  const work = await mkdtemp(join(tmpdir(), "zaphod-busybox-"));
  try {
    const root = join(work, "root");
    for (const dir of [
      "bin",
      "sbin",
      "usr/bin",
      "usr/sbin",
      "etc/init.d",
      "proc",
      "sys",
      "dev",
      "tmp",
      "root",
    ]) {
      await mkdir(join(root, dir), { recursive: true });
    }
    for (const dir of ["data", "mnt", "run", "var/log"]) await mkdir(join(root, dir), { recursive: true });
    await chmod(join(root, "tmp"), 0o1777);
    await run(["cp", "--", "/bin/busybox", join(root, "bin/busybox")]);
    const { stdout } = await run(["/bin/busybox", "--list-full"]);
    for (const entry of stdout.split("\n")) {
      if (!/^[a-z/]+\/[a-z0-9._[-]+$/.test(entry) || entry === "bin/busybox") continue;
      await mkdir(join(root, dirname(entry)), { recursive: true });
      await symlink("/bin/busybox", join(root, entry)).catch(() => undefined);
    }
    // Dropbear (Debian's dropbear-bin) and its converter, with the libraries they link.
    for (const program of DROPBEAR) await copyProgram(root, program);
    await copyIsofsModules(root);
    for (const [path, { text, mode }] of Object.entries(FILES)) {
      await writeFile(join(root, path), text, { mode });
      await chmod(join(root, path), mode);
    }
    const out = join(work, "image.ext4");
    const size = `${options.sizeMiB ?? 256}M`;
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
      size,
    ]);
    const published = await publishImage(options.imagesDir, options.name, out, "busybox");
    log(`image ${options.name}: busybox root published at ${published}`);
    return published;
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
  const name = arg("--name") ?? `busybox-${new Date().toISOString().slice(0, 10).replaceAll("-", "")}`;
  const started = Date.now();
  await buildBusyboxImage({ imagesDir: config.imagesDir, name });
  console.error(`built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// Run as a program (also through a symlinked release directory: import.meta.url is the real path).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((error) => {
    console.error(`image:busybox: ${(error as Error).message}`);
    process.exit(1);
  });
}
