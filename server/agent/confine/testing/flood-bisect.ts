/**
 * Measurement tool (not a test): boots one busybox VM per variant — plain, or confined with one
 * part of the sandbox left out — floods its console with `yes`, and reports the console's output
 * rate, the host's worst timer lag during the flood, which processes burned the CPU, and the time
 * from Ctrl-C to the prompt on the pane. Run as root, under the heavy lock:
 *
 *   flock /tmp/zaphod-heavy.lock timeout 900 npx tsx server/agent/confine/testing/flood-bisect.ts \
 *     plain confined no-initramfs ...
 *
 * Every process it starts is ended by pid (the VM's cgroup, then its uid's processes); its user,
 * cgroups, netns and temp dir are removed at the end.
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { baseEnv, type RunAs, run } from "../../exec";
import { buildBusyboxImage } from "../../images/build-busybox";
import { TMUX_CONF } from "../../tmux";
import { type CgroupLayout, defaultLimits, detectCgroups, ensureVmCgroup, killVmCgroup } from "../cgroup";
import { type ConfineVmOptions, confinedHolderArgv, confinedUmlArgv, spawnConfined } from "../confine-vm";
import { buildInitramfs, umlKernelVersion } from "../initramfs";
import { deleteNetns, ensureNetns } from "../netns";
import { DEFAULT_VM_NICE, withAutogroupNice } from "../sandbox";
import {
  addVmUser,
  type BareVm,
  buildShim,
  holderTmuxArgs,
  makeBareVmDirs,
  plainUmlArgv,
  UML,
} from "./bare-vm";

const MEM_MIB = Number(process.env.MEM_MIB ?? 64);
const FLOOD_MS = Number(process.env.FLOOD_MS ?? 4000);

/** What a variant changes in the confined start (or `plain`: today's unconfined start). */
interface Variant {
  plain?: boolean;
  initramfs?: boolean;
  cgroup?: boolean;
  /** Only these v1 controllers of the product's cgroup are joined (pids, memory, blkio). */
  controllers?: string[];
  /** Also a v1 cpu-controller group with these cpu.shares (VM and parent), as before the fix. */
  cpuShares?: number;
  netns?: boolean;
  /** bwrap flags removed from the argv. */
  drop?: string[];
  /** bwrap argument pairs replaced: [from, to] on the flag (its operand stays). */
  replace?: [string, string][];
  /** Extra argv edit. */
  edit?: (argv: string[]) => string[];
  /** tmux config appended. */
  tmuxConf?: string;
}

const VARIANTS: Record<string, Variant> = {
  plain: { plain: true },
  confined: {},
  "no-initramfs": { initramfs: false },
  "no-cgroup": { cgroup: false },
  "only-pids": { controllers: ["pids"] },
  "only-memory": { controllers: ["memory"] },
  "only-blkio": { controllers: ["blkio"] },
  // Before the fix: the product's groups plus the cpu controller (cpu.shares 512, or 1024).
  "with-cpu": { cpuShares: 512 },
  "with-cpu-1024": { cpuShares: 1024 },
  "only-cpu": { controllers: [], cpuShares: 512 },
  "dev-host": { replace: [["--dev", "--dev-bind"]], edit: devBindHost },
  "no-clearenv": { drop: ["--clearenv"] },
  // Only the namespaces bwrap adds, none of its options: nothing but pid ns + initramfs.
  "plain-initramfs": { plain: true, initramfs: true },
};

function devBindHost(argv: string[]): string[] {
  const i = argv.indexOf("--dev-bind");
  if (i >= 0) argv.splice(i, 2, "--dev-bind", "/dev", "/dev");
  return argv;
}

const tag = randomBytes(3).toString("hex");
const userName = `zfb${tag}`;
const cgroupParent = `zaphod-bisect-${tag}`;
let root = "";
let image = "";
let shim = "";
let initramfs = "";
let user: RunAs = { uid: -1, gid: -1 };
let layout: CgroupLayout;
const cpuGroups: string[] = [];

type Vm = BareVm;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function makeVm(name: string, extraConf = ""): Promise<Vm> {
  const vm = await makeBareVmDirs(root, name, user);
  await writeFile(vm.tmuxConf, TMUX_CONF + extraConf, { mode: 0o644 });
  await run(["truncate", "-s", "64M", join(vm.diskDir, "swap.img")], { as: user });
  await run(["mkswap", "-q", join(vm.diskDir, "swap.img")], { as: user });
  await run(["truncate", "-s", "64M", join(vm.diskDir, "storage.img")], { as: user });
  await run(["mkfs.ext4", "-q", "-F", join(vm.diskDir, "storage.img")], { as: user });
  return vm;
}

const umlArgv = (vm: Vm) => plainUmlArgv(vm, { shim, image, memMiB: MEM_MIB });
/** The product's pipe (tmux.ts pipeCommand). */
const pipe = (vm: Vm) => `exec stdbuf -o0 head -c 67108864 >> '${vm.log}'`;

const vmEnv = (vm: Vm) => ({ HOME: vm.runDir, TERM: "screen", TMPDIR: vm.ramDir });

async function start(vm: Vm, v: Variant): Promise<void> {
  if (v.plain && !v.initramfs) {
    await run(["tmux", "-S", vm.tmuxSocket, ...holderTmuxArgs(vm, umlArgv(vm), pipe(vm))], {
      as: user,
      env: baseEnv(vmEnv(vm)),
      cwd: vm.runDir,
    });
    return;
  }
  if (v.plain) {
    const argv = umlArgv(vm);
    argv.splice(argv.findIndex((a) => a.startsWith("mem=")) + 1, 0, `initrd=${initramfs}`);
    await run(["tmux", "-S", vm.tmuxSocket, ...holderTmuxArgs(vm, argv, pipe(vm))], {
      as: user,
      env: baseEnv(vmEnv(vm)),
      cwd: vm.runDir,
    });
    return;
  }
  if (v.cgroup !== false) {
    vm.cgroup = await ensureVmCgroup(layout, cgroupParent, vm.name, defaultLimits(MEM_MIB));
    if (v.cpuShares) {
      const dir = join("/sys/fs/cgroup/cpu", cgroupParent, vm.name);
      await mkdir(dir, { recursive: true });
      await writeFile(join("/sys/fs/cgroup/cpu", cgroupParent, "cpu.shares"), String(v.cpuShares));
      await writeFile(join(dir, "cpu.shares"), String(v.cpuShares));
      cpuGroups.push(dir);
    }
  }
  if (v.netns !== false) vm.netns = await ensureNetns(`${cgroupParent}-${vm.name}`);
  const options: ConfineVmOptions = {
    name: vm.name,
    user,
    memoryMiB: MEM_MIB,
    paths: vm,
    readOnly: [image, shim],
    initramfs: v.initramfs === false ? null : initramfs,
    netns: vm.netns,
    nice: DEFAULT_VM_NICE,
    cgroupProcs: [
      ...(vm.cgroup?.procs ?? []).filter(
        (p) => !v.controllers || v.controllers.some((c) => p.includes(`/${c}/`)),
      ),
      ...(v.cpuShares ? [join("/sys/fs/cgroup/cpu", cgroupParent, vm.name, "cgroup.procs")] : []),
    ],
  };
  let argv = confinedHolderArgv(
    options,
    { HOME: vm.runDir, TERM: "screen" },
    holderTmuxArgs(vm, withAutogroupNice(options.nice, confinedUmlArgv(umlArgv(vm), options)), pipe(vm)),
  );
  const bwrapAt = argv.indexOf("bwrap");
  const endAt = argv.indexOf("--", bwrapAt);
  const head = argv.slice(0, bwrapAt + 1);
  let flags = argv.slice(bwrapAt + 1, endAt);
  const tail = argv.slice(endAt);
  flags = flags.filter((f) => !(v.drop ?? []).includes(f));
  for (const [from, to] of v.replace ?? []) flags = flags.map((f) => (f === from ? to : f));
  argv = [...head, ...flags, ...tail];
  if (v.edit) argv = v.edit(argv);
  await writeFile(join(vm.dir, "argv.json"), JSON.stringify(argv, null, 1));
  await spawnConfined(argv, join(vm.dir, "sandbox.log"));
}

async function waitFor<T>(what: string, fn: () => Promise<T | null>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const tmux = (vm: Vm, args: string[], timeoutMs = 30_000) =>
  run(["tmux", "-S", vm.tmuxSocket, ...args], {
    as: user,
    env: baseEnv(vmEnv(vm)),
    cwd: vm.runDir,
    timeoutMs,
  });

async function screen(vm: Vm): Promise<string> {
  return (await tmux(vm, ["capture-pane", "-p", "-t", "con"])).stdout;
}

async function userPids(): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const info = await stat(`/proc/${entry}`).catch(() => null);
    if (info?.uid === user.uid) out.push(Number(entry));
  }
  return out;
}

/** utime+stime ticks of every process, by "pid comm". */
async function cpuTicks(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const close = text.lastIndexOf(")");
    if (close < 0) continue;
    const comm = text.slice(text.indexOf("(") + 1, close);
    const fields = text.slice(close + 2).split(" ");
    out.set(`${entry} ${comm}`, Number(fields[11]) + Number(fields[12]));
  }
  return out;
}

async function systemTicks(): Promise<{
  user: number;
  system: number;
  idle: number;
  iowait: number;
  softirq: number;
}> {
  const line = (await readFile("/proc/stat", "utf8")).split("\n")[0] as string;
  const [, u, n, s, idle, iowait, , softirq] = line.split(/\s+/).map(Number);
  return {
    user: (u ?? 0) + (n ?? 0),
    system: s ?? 0,
    idle: idle ?? 0,
    iowait: iowait ?? 0,
    softirq: softirq ?? 0,
  };
}

function lagProbe() {
  let last = performance.now();
  let max = 0;
  let over100 = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const lag = now - last - 10;
    max = Math.max(max, lag);
    if (lag > 100) over100 += lag;
    last = now;
  }, 10);
  return {
    /** The worst lag (ms) and the total of lags over 100 ms since the last take. */
    take(): string {
      const value = `${Math.round(max)}/${Math.round(over100)}`;
      max = 0;
      over100 = 0;
      return value;
    },
    stop: () => clearInterval(timer),
  };
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path).catch(() => ({ size: 0 }))).size;
}

async function stop(vm: Vm): Promise<void> {
  if (vm.cgroup) await killVmCgroup(vm.cgroup);
  for (let round = 0; round < 100; round++) {
    const pids = await userPids();
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await sleep(50);
  }
  // Each directory on its own (a group still busy with a zombie must not keep the others).
  for (const dir of vm.cgroup?.dirs ?? []) {
    for (
      let round = 0;
      round < 40 &&
      (await rmdir(dir).then(
        () => false,
        (e) => e.code !== "ENOENT",
      ));
      round++
    )
      await sleep(50);
  }
  if (vm.netns) await deleteNetns(vm.netns.split("/").at(-1) as string).catch(() => undefined);
}

async function measure(name: string, v: Variant, rep: number) {
  const vm = await makeVm(`${name.replace(/[^a-z0-9]/g, "")}${rep}`.slice(0, 30), v.tmuxConf);
  const probe = lagProbe();
  try {
    const t0 = performance.now();
    await start(vm, v);
    await waitFor(
      "login",
      async () => ((await readFile(vm.log, "utf8").catch(() => "")).includes("login:") ? true : null),
      90_000,
    );
    const bootS = (performance.now() - t0) / 1000;
    await tmux(vm, ["send-keys", "-t", "con", "-l", "root"]);
    await tmux(vm, ["send-keys", "-t", "con", "Enter"]);
    await waitFor("prompt", async () => (/#\s*$/m.test(await screen(vm)) ? true : null), 30_000);
    await sleep(1000);
    const idleLag = probe.take();
    const ticks0 = await cpuTicks();
    const sys0 = await systemTicks();
    const size0 = await fileSize(vm.log);
    await tmux(vm, ["send-keys", "-t", "con", "-l", "yes"]);
    await tmux(vm, ["send-keys", "-t", "con", "Enter"]);
    const f0 = performance.now();
    await sleep(FLOOD_MS);
    const floodS = (performance.now() - f0) / 1000;
    const size1 = await fileSize(vm.log);
    const ticks1 = await cpuTicks();
    const sys1 = await systemTicks();
    const floodLag = probe.take();
    const c0 = performance.now();
    await tmux(vm, ["send-keys", "-t", "con", "C-c"]);
    const sendMs = performance.now() - c0;
    let ctrlcMs = -1;
    try {
      await waitFor(
        "prompt after Ctrl-C",
        async () => {
          const lines = (await screen(vm)).split("\n").filter((l) => l.trim() !== "");
          return /# ?$/.test(lines.at(-1) ?? "") ? true : null;
        },
        30_000,
      );
      ctrlcMs = performance.now() - c0;
    } catch {}
    const ctrlcLag = probe.take();
    const size2 = await fileSize(vm.log);
    const top = [...ticks1]
      .map(([k, t]) => [k, t - (ticks0.get(k) ?? 0)] as const)
      .filter(([, d]) => d > 0)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, d]) => `${k.split(" ").slice(1).join(" ")}:${Math.round((d / 100 / floodS) * 100)}%`);
    const total = (o: typeof sys0) => o.user + o.system + o.idle + o.iowait + o.softirq;
    const span = total(sys1) - total(sys0);
    const pct = (k: keyof typeof sys0) => Math.round(((sys1[k] - sys0[k]) / span) * 100);
    const result = {
      variant: name,
      rep,
      bootS: Number(bootS.toFixed(2)),
      idleLagMs: idleLag,
      floodKBs: Math.round((size1 - size0) / 1024 / floodS),
      floodLagMs: floodLag,
      sendKeysMs: Math.round(sendMs),
      ctrlcMs: Math.round(ctrlcMs),
      ctrlcLagMs: ctrlcLag,
      afterCtrlcKB: Math.round((size2 - size1) / 1024),
      cpu: `us${pct("user")} sy${pct("system")} id${pct("idle")} wa${pct("iowait")} si${pct("softirq")}`,
      top: top.join(" "),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    probe.stop();
    await stop(vm);
    await rm(vm.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root");
  const args = process.argv.slice(2);
  const reps = Number(process.env.REPS ?? 1);
  const names = args.length ? args : ["plain", "confined"];
  for (const n of names)
    if (!VARIANTS[n]) throw new Error(`unknown variant ${n}: ${Object.keys(VARIANTS).join(" ")}`);
  root = await mkdtemp("/tmp/zaphod-bisect-");
  await chmod(root, 0o755);
  user = await addVmUser(userName);
  try {
    layout = await detectCgroups();
    const lib = join(root, "lib");
    await mkdir(lib, { mode: 0o755 });
    shim = await buildShim(lib);
    initramfs = (
      await buildInitramfs({
        kernelVersion: await umlKernelVersion(UML),
        outFile: join(lib, "initramfs.cpio"),
      })
    ).path;
    image = await buildBusyboxImage({
      imagesDir: join(root, "images"),
      name: "busybox-bisect",
      log: () => undefined,
    });
    for (let rep = 0; rep < reps; rep++)
      for (const n of names)
        await measure(n, VARIANTS[n] as Variant, rep).catch((e) =>
          console.log(JSON.stringify({ variant: n, rep, error: String(e).slice(0, 300) })),
        );
  } finally {
    await run(["userdel", userName]).catch(() => undefined);
    for (const dir of cpuGroups) await rmdir(dir).catch(() => undefined);
    await rmdir(join("/sys/fs/cgroup/cpu", cgroupParent)).catch(() => undefined);
    for (const c of layout?.version === 1 ? Object.values(layout.controllers) : layout ? [layout.root] : [])
      if (c) await rmdir(join(c, cgroupParent)).catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
