/**
 * B10 — VM network (issue 12 point 9; ../shared/notes/bench.md §4). TCP throughput and round-trip
 * latency host ↔ VM and VM ↔ VM on each UML transport (layouts.ts), all booted at once and
 * measured interleaved in the same run (the order rotates every rep). Everything lives in network
 * namespaces this bench creates and removes; UML runs as root inside them (the data path is the
 * same as the agent's unprivileged VMs': the tap is opened once at boot).
 *
 *   sudo npx tsx bench/net/net-bench.ts [--reps 3] [--mb 128] [--pings 50]
 *        [--transports tuntap,vector,uml_switch,tuntap-flat] [--no-rules] [--json out.json]
 *
 * - throughput: `--mb` MiB of zeros over one TCP connection; the guest's end is busybox
 *   (`nc -l -p P -e dd …`: dd reads or writes the socket directly, 64 KiB at a time). Host → VM and
 *   VM → host are timed by the host's end (tcp-tool.mjs in the bridge's namespace, connect → close);
 *   VM → VM by the receiving guest (busybox `adjtimex`, µs, read before and after its dd).
 * - RTT: `ping -c N -i 0.02` (busybox) host → VM from the bridge's namespace and VM → VM in a guest;
 *   p50 and p99 of every reply of every rep.
 * - host CPU per MiB moved: CPU time of the guests' process groups (UML, its helpers and one host
 *   process per guest process) and of uml_switch during each transfer.
 * A bench, not a test: it prints figures and ratios and never fails on a number.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { deleteNetns } from "../../server/agent/confine/netns";
import { run } from "../../server/agent/exec";
import { buildBusyboxImage } from "../../server/agent/images/build-busybox";
import { buildUmlShimUnlessBuilt } from "../lib/uml-shim";
import { Guest, groupTicks } from "./guest";
import { type BenchNet, buildNet, type Made, TRANSPORTS, type TransportId } from "./layouts";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "3" },
    mb: { type: "string", default: "128" },
    pings: { type: "string", default: "50" },
    transports: { type: "string", default: "tuntap,vector,uml_switch,tuntap-flat" },
    "no-rules": { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const REPS = Math.max(1, Math.min(20, Number(values.reps)));
const MIB = 1024 * 1024;
const BYTES = Math.max(1, Math.min(512, Number(values.mb))) * MIB;
const PINGS = Math.max(5, Math.min(500, Number(values.pings)));
const chosen = (values.transports as string).split(",").map((t) => t.trim());
for (const t of chosen)
  if (!(TRANSPORTS as readonly string[]).includes(t))
    throw new Error(`unknown transport ${t}; known: ${TRANSPORTS.join(", ")}`);
const IDS = chosen as TransportId[];
const BASELINE: TransportId = IDS[0] as TransportId;
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const TOOL = join(repoRoot, "bench/net/tcp-tool.mjs");
const UML = "/usr/bin/linux.uml";
const BOOT_TIMEOUT_MS = 240_000;
const TRANSFER_TIMEOUT_MS = 180_000;

type Path = "hostToVm" | "vmToHost" | "vmToVm";
const PATHS: Path[] = ["hostToVm", "vmToHost", "vmToVm"];
const PATH_LABEL: Record<Path, string> = { hostToVm: "host → VM", vmToHost: "VM → host", vmToVm: "VM → VM" };

interface Running {
  net: BenchNet;
  guests: [Guest, Guest];
}

interface RepResult {
  mibps: Record<Path, number>;
  cpuMsPerMiB: Record<Path, number>;
  rttHost: number[];
  rttVm: number[];
}

let port = 6000;

function log(line: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function umlArgv(o: {
  shim: string | null;
  image: string;
  dir: string;
  name: string;
  nic: string;
}): string[] {
  return [
    ...(o.shim ? ["/usr/bin/env", `LD_PRELOAD=${o.shim}`] : []),
    UML,
    "mem=64M",
    `ubd0=${join(o.dir, `${o.name}.cow`)},${o.image}`,
    `umid=${o.name}`,
    `uml_dir=${o.dir}`,
    "con0=fd:0,fd:1",
    "con=null",
    "ssl=null",
    `hostfs=${o.dir}/no-hostfs`,
    "root=/dev/ubda",
    "rw",
    "quiet",
    "init=/bin/sh",
    o.nic,
  ];
}

async function hostTool(netns: string, args: string[]): Promise<{ bytes: number; seconds: number }> {
  const out = await run(["ip", "netns", "exec", netns, process.execPath, TOOL, ...args], {
    timeoutMs: TRANSFER_TIMEOUT_MS,
    allowFailure: true,
  });
  const result = JSON.parse(out.stdout.trim().split("\n").pop() || "{}") as {
    bytes?: number;
    seconds?: number;
    error?: string;
  };
  if (result.bytes === undefined || result.seconds === undefined)
    throw new Error(
      `tcp-tool ${args.join(" ")}: exit ${out.code}, ${result.error ?? (out.stdout + out.stderr).slice(0, 300)}`,
    );
  return { bytes: result.bytes, seconds: result.seconds };
}

function pingTimes(text: string): number[] {
  return [...text.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

/** One transfer; returns MiB/s and host CPU ms per MiB. */
async function transfer(r: Running, path: Path): Promise<{ mibps: number; cpuMsPerMiB: number }> {
  const [a, b] = r.guests;
  const [vmA] = r.net.vms;
  const p = String(port++);
  const blocks = BYTES / (64 * 1024);
  const pgids = [a.pid, b.pid, ...r.net.helperPids];
  const t0 = await groupTicks(pgids);
  let seconds: number;
  let bytes = BYTES;
  if (path === "hostToVm") {
    await a.sh(`nc -l -p ${p} -e dd of=/dev/null bs=64k &`);
    ({ seconds, bytes } = await hostTool(r.net.bridgeNs, ["send", vmA.ip, p, String(BYTES)]));
  } else if (path === "vmToHost") {
    await a.sh(`nc -l -p ${p} -e dd if=/dev/zero bs=64k count=${blocks} &`);
    ({ seconds, bytes } = await hostTool(r.net.bridgeNs, ["recv", vmA.ip, p]));
  } else {
    // The receiver reads the clock (adjtimex: µs) before and after its dd, on the console.
    await a.sh(`nc -l -p ${p} -e sh -c 'adjtimex >&2; dd of=/dev/null bs=64k; adjtimex >&2' &`);
    const from = a.mark();
    const sent = await b.sh(
      `i=0; until nc ${vmA.ip} ${p} -e dd if=/dev/zero bs=64k count=${blocks}; do i=$((i+1)); [ $i -ge 25 ] && break; sleep 0.2; done`,
      TRANSFER_TIMEOUT_MS,
    );
    if (sent.code !== 0) throw new Error(`${r.net.id}: VM → VM sender failed:\n${sent.out}`);
    const clock =
      /time\.tv_sec:\s+(\d+)\s+time\.tv_usec:\s+(\d+)[\s\S]*?time\.tv_sec:\s+(\d+)\s+time\.tv_usec:\s+(\d+)/;
    const m = await a.waitFor(clock, from, 30_000);
    seconds = Number(m[3]) - Number(m[1]) + (Number(m[4]) - Number(m[2])) / 1e6;
  }
  const t1 = await groupTicks(pgids);
  if (bytes !== BYTES) throw new Error(`${r.net.id} ${path}: ${bytes} bytes arrived, not ${BYTES}`);
  const mib = BYTES / MIB;
  return { mibps: mib / Math.max(seconds, 0.005), cpuMsPerMiB: ((t1 - t0) * 10) / mib };
}

async function measure(r: Running): Promise<RepResult> {
  const [vmA] = r.net.vms;
  const mibps = {} as Record<Path, number>;
  const cpuMsPerMiB = {} as Record<Path, number>;
  for (const path of PATHS) {
    const t = await transfer(r, path);
    mibps[path] = t.mibps;
    cpuMsPerMiB[path] = t.cpuMsPerMiB;
  }
  const hostPing = await run(
    [
      "ip",
      "netns",
      "exec",
      r.net.bridgeNs,
      "/bin/busybox",
      "ping",
      "-c",
      String(PINGS),
      "-i",
      "0.02",
      vmA.ip,
    ],
    { timeoutMs: 120_000, allowFailure: true },
  );
  const vmPing = await r.guests[1].sh(`ping -c ${PINGS} -i 0.02 ${vmA.ip}`, 120_000);
  return { mibps, cpuMsPerMiB, rttHost: pingTimes(hostPing.stdout), rttVm: pingTimes(vmPing.out) };
}

/**
 * Isolation probe (point 5): guest A adds an address of its subnet that is not its own and pings
 * the host from it. With per-VM rules its ARP and IP are dropped at its port; true = got through.
 */
async function spoofGetsThrough(r: Running): Promise<boolean> {
  const [a] = r.guests;
  const foreign = r.net.hostIp.replace(/\.1$/, ".99");
  await a.sh(`ip addr add ${foreign}/24 dev $d`);
  const ping = await a.sh(`ping -c 3 -W 2 -I ${foreign} ${r.net.hostIp} >/dev/null`, 30_000);
  await a.sh(`ip addr del ${foreign}/24 dev $d`);
  return ping.code === 0;
}

const median = (xs: number[]) => quantile(xs, 0.5);
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((x, y) => x - y);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (s[lo] as number) + ((s[hi] as number) - (s[lo] as number)) * (pos - lo);
}

const f = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "—");

async function bootNet(
  net: BenchNet,
  o: { shim: string | null; image: string; dir: string },
): Promise<Running> {
  const guests = net.vms.map(
    (vm) => new Guest(vm.name, vm.netns, umlArgv({ ...o, name: vm.name, nic: vm.nic })),
  );
  return { net, guests: guests as [Guest, Guest] };
}

async function configure(r: Running): Promise<void> {
  for (const [i, g] of r.guests.entries()) {
    const vm = r.net.vms[i as 0 | 1];
    await g.waitForShell(BOOT_TIMEOUT_MS);
    const set = await g.sh(
      `mount -t proc proc /proc; mount -t sysfs sys /sys; ip link set lo up; d=eth0; [ -e /sys/class/net/vec0 ] && d=vec0; ip addr add ${vm.ip}/24 dev $d && ip link set $d up && echo "@@""DEV $d"`,
    );
    if (set.code !== 0) throw new Error(`${vm.name}: network setup failed:\n${set.out}`);
    const ok = await g.sh(
      `i=0; until ping -c 1 -W 2 ${r.net.hostIp} >/dev/null; do i=$((i+1)); [ $i -ge 10 ] && break; done`,
      60_000,
    );
    if (ok.code !== 0) throw new Error(`${r.net.id} ${vm.name}: cannot ping the host ${r.net.hostIp}`);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root (it makes network namespaces and taps)");
  const tag = process.pid.toString(36);
  const made: Made = { netns: [], pids: [] };
  const running: Running[] = [];
  const dir = await mkdtemp("/var/tmp/zbench-net-");
  let cleaning: Promise<void> | null = null;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const r of running) for (const g of r.guests) await g.kill().catch((e) => log(String(e)));
      for (const pid of made.pids) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {}
      }
      for (const ns of made.netns.reverse()) await deleteNetns(ns).catch((e) => log(`netns ${ns}: ${e}`));
      await rm(dir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  const onSignal = () => {
    log("interrupted: cleaning up");
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const loadBefore = loadavg();
    log(`load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}; transports ${IDS.join(", ")}`);
    const shimBuilt = await buildUmlShimUnlessBuilt(join(dir, "lib"));
    const shim = shimBuilt ?? join(repoRoot, "dist/uml-xstate.so");
    const image = await buildBusyboxImage({ imagesDir: join(dir, "images"), name: "bench-net", log });
    const rules = !values["no-rules"];
    for (const [i, id] of IDS.entries()) {
      const net = await buildNet(id, i + 1, { tag, dir, rules, made });
      running.push(await bootNet(net, { shim, image, dir }));
    }
    const t0 = Date.now();
    await Promise.all(running.map(configure));
    log(
      `${running.length * 2} guests up and on their networks in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const results = new Map<TransportId, RepResult[]>(IDS.map((id) => [id, []]));
    for (let rep = 0; rep < REPS; rep++) {
      const order = running.map((_, i) => running[(i + rep) % running.length] as Running);
      for (const r of order) {
        const res = await measure(r).catch((error: Error) => {
          const tails = r.guests.map((g) => `--- ${g.name}'s console:\n${g.tail(1500)}`).join("\n");
          throw new Error(`${r.net.id}: ${error.message}\n${tails}`);
        });
        (results.get(r.net.id) as RepResult[]).push(res);
        log(
          `rep ${rep + 1} ${r.net.id}: ${PATHS.map((p) => `${PATH_LABEL[p]} ${f(res.mibps[p])} MiB/s`).join(", ")}; RTT host ${f(median(res.rttHost), 3)} ms, VM ${f(median(res.rttVm), 3)} ms`,
        );
      }
    }
    const spoof = new Map<TransportId, boolean>();
    for (const r of running) spoof.set(r.net.id, await spoofGetsThrough(r));
    const loadAfter = loadavg();
    report(results, spoof, loadBefore, loadAfter, rules);
    if (values.json)
      await writeFile(
        values.json,
        `${JSON.stringify({ reps: REPS, mib: BYTES / MIB, pings: PINGS, rules, loadBefore, loadAfter, results: Object.fromEntries(results), spoofGetsThrough: Object.fromEntries(spoof) }, null, 2)}\n`,
      );
  } finally {
    await cleanup();
    const left = (await run(["ip", "netns", "list"], { allowFailure: true })).stdout
      .split("\n")
      .filter(
        (l) => l.includes(`zbench-${tag}-`) || made.netns.some((ns) => l.startsWith(`${ns} `) || l === ns),
      );
    if (left.length > 0) log(`left behind (remove by hand): ${left.join(", ")}`);
  }
}

function report(
  results: Map<TransportId, RepResult[]>,
  spoof: Map<TransportId, boolean>,
  loadBefore: number[],
  loadAfter: number[],
  rules: boolean,
): void {
  const base = results.get(BASELINE) as RepResult[];
  const ratio = (id: TransportId, pick: (r: RepResult) => number) => {
    const reps = results.get(id) as RepResult[];
    return median(reps.map((r, i) => pick(r) / pick(base[i] as RepResult)));
  };
  const lines: string[] = [];
  lines.push(
    `B10 VM network: ${REPS} reps, ${BYTES / MIB} MiB per transfer, ${PINGS} pings per RTT, packet rules ${rules ? "on" : "off"}; load average ${loadBefore[0]?.toFixed(2)} → ${loadAfter[0]?.toFixed(2)}`,
  );
  lines.push(`Medians; ratios vs ${BASELINE} are medians of per-rep ratios (RTT: of pooled p50s).`);
  lines.push("");
  const head = ["metric", ...IDS];
  lines.push(`| ${head.join(" | ")} |`);
  lines.push(`| ${head.map(() => "---").join(" | ")} |`);
  for (const path of PATHS) {
    const cells = IDS.map((id) => {
      const reps = results.get(id) as RepResult[];
      const v = median(reps.map((r) => r.mibps[path]));
      return id === BASELINE ? `${f(v)} MiB/s` : `${f(v)} MiB/s (${f(ratio(id, (r) => r.mibps[path]))}×)`;
    });
    lines.push(`| TCP ${PATH_LABEL[path]} | ${cells.join(" | ")} |`);
  }
  for (const path of PATHS) {
    const cells = IDS.map((id) =>
      f(median((results.get(id) as RepResult[]).map((r) => r.cpuMsPerMiB[path])), 1),
    );
    lines.push(`| host CPU ms/MiB, ${PATH_LABEL[path]} | ${cells.join(" | ")} |`);
  }
  for (const [key, label] of [
    ["rttHost", "host → VM"],
    ["rttVm", "VM → VM"],
  ] as const) {
    const basePool = base.flatMap((r) => r[key]);
    const cells = IDS.map((id) => {
      const pool = (results.get(id) as RepResult[]).flatMap((r) => r[key]);
      const p50 = quantile(pool, 0.5);
      const rel = id === BASELINE ? "" : ` (${f(p50 / quantile(basePool, 0.5))}×)`;
      return `${f(p50, 3)} / ${f(quantile(pool, 0.99), 3)} ms${rel}`;
    });
    lines.push(`| RTT ${label} p50 / p99 | ${cells.join(" | ")} |`);
  }
  const spoofCells = IDS.map((id) => (spoof.get(id) ? "**yes**" : "no"));
  lines.push(`| A from an address not its own reaches the host | ${spoofCells.join(" | ")} |`);
  lines.push("");
  lines.push(
    `Isolation (issue 12 point 5): per-VM nftables bridge rules need a kernel port per VM — tuntap and vector: yes (the VM's tap, behind its veth); uml_switch: no (one tap for the whole userspace switch).`,
  );
  console.log(lines.join("\n"));
}

main().catch((error) => {
  console.error(`net-bench: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
