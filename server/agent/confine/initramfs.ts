/**
 * The root-owned early stage every guest boots through (issue 11 point 2): Debian's UML kernel
 * builds IPv6, nf_tables, vfat and iso9660 as modules, and a guest that may load modules can load
 * its own code into the kernel that runs as the VM's host user (the UML documentation's known way
 * out). So the agent builds an initramfs from Debian's busybox-static and the UML kernel's own
 * modules; its /init loads the fixed list below, sets `kernel.modules_disabled=1` (it cannot be
 * turned back on), mounts the real root and switch_roots to the guest's init. UML reads it with
 * `initrd=<file>` (CONFIG_BLK_DEV_INITRD=y); the file (gzip'd newc cpio) is root's, 0444, shared
 * by every VM.
 */
import { constants } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { run } from "../exec";
import { type CpioEntry, writeNewc } from "./cpio";
import { moduleName, parseModulesBuiltin, parseModulesDep, resolveModules } from "./kernel-modules";

/**
 * What a guest may need, decided once (a new need is a line here; the next agent start rebuilds):
 * - IPv6;
 * - nf_tables with the expressions `nft` rules commonly use (conntrack state, reject, limit, log).
 *   This UML kernel compiles no `ip`, `ip6` or `inet` nft family (NF_TABLES_IPV4/IPV6/INET
 *   unset), only `bridge`, so IPv4/IPv6 filtering in a guest is the legacy iptables filter
 *   tables below (iptables-legacy / ip6tables-legacy);
 * - vfat and iso9660, with the code pages FAT mounts by default (437, iso8859-1).
 * Kept short on purpose: the archive is held in guest RAM while it unpacks and the modules stay
 * there (a 48 MiB guest with the first, 50-module list ran out of memory at boot). Guest kernel code
 * runs inside UML, so modules widen only the guest's own kernel; what must not happen is a guest
 * choosing code to load, which modules_disabled stops.
 */
export const GUEST_MODULES = [
  "ipv6",
  "nf_tables",
  "nft_ct",
  "nft_limit",
  "nft_log",
  "nft_reject",
  "iptable_filter",
  "ip6table_filter",
  "ipt_REJECT",
  "ip6t_REJECT",
  "xt_conntrack",
  "xt_tcpudp",
  "vfat",
  "isofs",
  "nls_cp437",
  "nls_iso8859-1",
] as const;

/**
 * /init, run by the guest kernel as PID 1 from the initramfs. Every command is busybox's. A module
 * that fails to load is reported and the boot goes on (less function, no less safety); when
 * modules_disabled does not read 1 afterwards the guest powers off instead of booting.
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
# zaphod early stage: load the fixed module list, turn module loading off, boot the real root.
b=/bin/busybox
$b mount -t proc proc /proc
$b mount -t devtmpfs dev /dev
while read -r m; do
  $b insmod "/lib/modules/$m" || echo "zaphod initramfs: could not load $m" >/dev/console
done < /etc/modules.load
echo 1 > /proc/sys/kernel/modules_disabled
if [ "$($b cat /proc/sys/kernel/modules_disabled)" != 1 ]; then
  echo "zaphod initramfs: module loading is still on; powering off" >/dev/console
  $b poweroff -f
fi
root=/dev/ubda init=/sbin/init mode=ro fstype=
for arg in $($b cat /proc/cmdline); do
  case "$arg" in
    root=*) root="\${arg#root=}" ;;
    init=*) init="\${arg#init=}" ;;
    rootfstype=*) fstype="-t \${arg#rootfstype=}" ;;
    ro) mode=ro ;;
    rw) mode=rw ;;
  esac
done
$b mkdir -p /newroot
if ! $b mount $fstype -o "$mode" "$root" /newroot; then
  echo "zaphod initramfs: cannot mount $root; powering off" >/dev/console
  $b poweroff -f
fi
$b umount /proc
if [ -d /newroot/dev ]; then $b mount --move /dev /newroot/dev; else $b umount /dev; fi
exec $b switch_root /newroot "$init"
`;

export interface BuildInitramfsOptions {
  /** The UML kernel's version, e.g. `6.1.176` (`linux.uml --version`). */
  kernelVersion: string;
  /** Where the out file goes; its directory must be root's own and closed to others for writing. */
  outFile: string;
  modulesRoot?: string;
  busybox?: string;
  modules?: readonly string[];
}

export interface BuiltInitramfs {
  path: string;
  bytes: number;
  modules: string[];
}

/** `linux.uml --version` prints the kernel release (`6.1.176`); nothing is booted. */
export async function umlKernelVersion(umlBinary: string): Promise<string> {
  const { stdout } = await run([umlBinary, "--version"], { timeoutMs: 10_000 });
  const version = stdout.trim().split(/\s+/).at(-1) ?? "";
  if (!/^\d+\.\d+\.\d+[\w.+-]*$/.test(version))
    throw new Error(`cannot tell the UML kernel's version from ${JSON.stringify(stdout.slice(0, 80))}`);
  return version;
}

/** The initramfs's entries (pure apart from reading the module and busybox files). */
export async function initramfsEntries(
  options: Omit<BuildInitramfsOptions, "outFile">,
): Promise<{ entries: CpioEntry[]; modules: string[] }> {
  const modulesDir = join(options.modulesRoot ?? "/usr/lib/uml/modules", options.kernelVersion);
  const deps = parseModulesDep(await readFile(join(modulesDir, "modules.dep"), "utf8"));
  const builtin = parseModulesBuiltin(
    await readFile(join(modulesDir, "modules.builtin"), "utf8").catch(() => ""),
  );
  const { load } = resolveModules(deps, options.modules ?? GUEST_MODULES, builtin);
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (dir: string) => {
    if (dir === "." || dir === "" || dirs.has(dir)) return;
    addDir(dirname(dir));
    dirs.add(dir);
    entries.push({ type: "dir", path: dir, mode: 0o755 });
  };
  for (const dir of ["bin", "dev", "proc", "newroot", "etc", "lib/modules"]) addDir(dir);
  entries.push({ type: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
  entries.push({ type: "char", path: "dev/null", mode: 0o666, major: 1, minor: 3 });
  entries.push({
    type: "file",
    path: "bin/busybox",
    mode: 0o755,
    data: await readFile(options.busybox ?? "/bin/busybox"),
  });
  entries.push({ type: "file", path: "init", mode: 0o755, data: Buffer.from(INIT_SCRIPT) });
  entries.push({
    type: "file",
    path: "etc/modules.load",
    mode: 0o644,
    data: Buffer.from(`${load.join("\n")}\n`),
  });
  for (const path of load) {
    addDir(join("lib/modules", dirname(path)));
    entries.push({
      type: "file",
      path: join("lib/modules", path),
      mode: 0o644,
      data: await readFile(join(modulesDir, path)),
    });
  }
  return { entries, modules: load.map(moduleName) };
}

/**
 * Writes the initramfs to `outFile` (0444, root's): a new file created exclusively beside it, then
 * renamed over the old one, so a running VM keeps the copy it read and no one sees half a file.
 */
export async function buildInitramfs(options: BuildInitramfsOptions): Promise<BuiltInitramfs> {
  const { entries, modules } = await initramfsEntries(options);
  // gzip (CONFIG_RD_GZIP=y): the guest holds the archive in RAM until it is unpacked.
  const bytes = gzipSync(writeNewc(entries), { level: 6 });
  const dir = dirname(options.outFile);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const info = await stat(dir);
  const uid = process.getuid?.() ?? 0;
  if (info.uid !== uid || (info.mode & 0o022) !== 0)
    throw new Error(`${dir} must be owned by uid ${uid} and not writable by others`);
  const tmp = `${options.outFile}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o444,
  );
  try {
    await handle.writeFile(bytes);
    await handle.chmod(0o444);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, options.outFile);
  return { path: options.outFile, bytes: bytes.length, modules };
}
