/**
 * Builds a Debian 12 (bookworm) root image with debootstrap — about 2 minutes and 200 MB, so it
 * is documented and not run by the tests:
 *   npm run image:debian -- [--name debian-12-1] [--data-dir DIR] [--mirror URL] [--init systemd|sysvinit]
 * Tweaks for UML (uml.md §6): a getty on the console (tty0; con=null leaves tty1 dead), root with
 * an empty password, fstab with swap on /dev/ubdb and storage on /data, hostname from the kernel
 * command line (zvm.hostname=), Ctrl-Alt-Del reboots.
 */

import { realpathSync } from "node:fs";
import { appendFile, chmod, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { run } from "../exec";
import { assertImageNameFree, publishImage } from "./publish-image";

const FSTAB = `/dev/ubda  /      ext4  defaults,errors=remount-ro  0 1
/dev/ubdb  none   swap  sw                          0 0
/dev/ubdc  /data  ext4  defaults,nofail             0 2
`;

const HOSTNAME_SCRIPT = `#!/bin/sh
for arg in $(cat /proc/cmdline); do
  case "$arg" in zvm.hostname=*) hostname "\${arg#zvm.hostname=}" ;; esac
done
`;

export async function buildDebianImage(options: {
  imagesDir: string;
  name: string;
  mirror?: string;
  init?: "systemd" | "sysvinit";
  sizeMiB?: number;
}): Promise<string> {
  if (process.getuid?.() !== 0) throw new Error("debootstrap needs root");
  await assertImageNameFree(options.imagesDir, options.name);
  const init = options.init ?? "systemd";
  const work = await mkdtemp("/var/tmp/zaphod-debian-");
  const root = join(work, "root");
  try {
    await run(
      [
        "debootstrap",
        "--variant=minbase",
        `--include=${init === "systemd" ? "systemd-sysv" : "sysvinit-core"},procps,e2fsprogs,ifupdown,iproute2`,
        "bookworm",
        root,
        options.mirror ?? "http://deb.debian.org/debian",
      ],
      { timeoutMs: 30 * 60_000 },
    );
    await writeFile(join(root, "etc/fstab"), FSTAB);
    await run(["mkdir", "-p", "--", join(root, "data")]);
    await writeFile(join(root, "etc/hostname"), "zaphod\n");
    await run(["chroot", root, "passwd", "-d", "root"]);
    await writeFile(join(root, "usr/local/sbin/zvm-hostname"), HOSTNAME_SCRIPT);
    await chmod(join(root, "usr/local/sbin/zvm-hostname"), 0o755);
    if (init === "systemd") {
      const wants = join(root, "etc/systemd/system/getty.target.wants");
      await run(["mkdir", "-p", "--", wants]);
      await symlink("/lib/systemd/system/console-getty.service", join(wants, "console-getty.service"));
      await symlink("/dev/null", join(root, "etc/systemd/system/getty@tty1.service"));
      await writeFile(
        join(root, "etc/systemd/system/zvm-hostname.service"),
        "[Unit]\nDescription=hostname from zvm.hostname=\nDefaultDependencies=no\nBefore=sysinit.target\n\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/zvm-hostname\n\n[Install]\nWantedBy=sysinit.target\n",
      );
      await run(["chroot", root, "systemctl", "enable", "zvm-hostname.service"]);
    } else {
      const inittab = join(root, "etc/inittab");
      await run(["sed", "-i", "-e", "s/^\\([1-6]:\\)/#\\1/", "--", inittab]);
      await appendFile(inittab, "0:2345:respawn:/sbin/getty --noclear 38400 tty0\n");
      await run(
        [
          "sed",
          "-i",
          "-e",
          "s#^exit 0#/usr/local/sbin/zvm-hostname\\nexit 0#",
          "--",
          join(root, "etc/init.d/hostname.sh"),
        ],
        {
          allowFailure: true,
        },
      );
    }
    await run(["chroot", root, "apt-get", "clean"]);
    await rm(join(root, "var/lib/apt/lists"), { recursive: true, force: true });
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
  const init = arg("--init") === "sysvinit" ? "sysvinit" : "systemd";
  const started = Date.now();
  const path = await buildDebianImage({ imagesDir: config.imagesDir, name, mirror: arg("--mirror"), init });
  console.error(`image ${name}: ${path} built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

// Run as a program (also through a symlinked release directory: import.meta.url is the real path).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((error) => {
    console.error(`image:debian: ${(error as Error).message}`);
    process.exit(1);
  });
}
