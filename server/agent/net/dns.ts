/**
 * The VMs' resolver (issue 12 point 2): dnsmasq in the bridge's namespace, listening only on the
 * gateway's addresses on the bridge (the IPv4 gateway and the IPv6 prefix's `::1`), answering each
 * VM's name with its addresses and forwarding the rest upstream. No DHCP (the seed disk gives the
 * addresses), no /etc/hosts, no resolv.conf of its own: everything is in `<data>/dns/` (root, 0755;
 * files 0644), rewritten on every change.
 *
 * The guests are told (seed disk, vm.network) the gateway in isolated and nat modes; in routed
 * mode the admin's upstreams, when there are any (then no resolver runs). Upstreams: the admin's
 * (`settings.dns`, minus the gateway itself); without them, in nat mode, the host's resolv.conf
 * nameservers — minus loopback ones in a named namespace, whose loopback is not the host's. In
 * isolated mode the host's nameservers are never used: nothing of the VMs' leaves the bridge
 * unless the admin names an upstream (a resolver forwarding anything is a way out).
 *
 * The process: `[nsenter --net=<ns> --] setpriv … --reuid=nobody … --pdeathsig=TERM -- dnsmasq`,
 * an argv, no shell. It runs as nobody from its first instruction with only
 * CAP_NET_BIND_SERVICE (ambient, bounding set cut to it); the parent-death signal ends it with the
 * agent, even a SIGKILLed one (it is cleared by a change of uid, so setpriv changes uid before
 * setting it and dnsmasq never changes its own). New names: SIGHUP (dnsmasq re-reads the hosts
 * file); new listen addresses or upstreams: a restart. A resolver that dies is restarted, up to
 * MAX_RESTARTS times in a row.
 */
import type { ChildProcess } from "node:child_process";
import { chmod, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HostNetworkSettings } from "../../protocol/agent";
import { formatIPv6, ipv6FromMac, parseIPv4, parseIPv6, parseIPv6Prefix } from "../../protocol/net";
import { netnsPath } from "../confine/netns";
import { baseEnv, spawn } from "../exec";
import { ensureDir } from "../safe-fs";

/** A VM's entry in the resolver's hosts file. */
export type DnsHost = { name: string; ipv4: string | null; ipv6: string | null };

/** Consecutive deaths (each within STABLE_MS of its start) after which the agent stops restarting it. */
export const MAX_RESTARTS = 5;
const STABLE_MS = 60_000;
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Whether `parse` takes `text` (the protocol's parsers throw on anything else). */
function parses(parse: (text: string) => unknown, text: string): boolean {
  try {
    parse(text);
    return true;
  } catch {
    return false;
  }
}
const isIPv4 = (text: string) => parses(parseIPv4, text);
const isIPv6 = (text: string) => parses(parseIPv6, text);

export function isLoopback(address: string): boolean {
  if (isIPv4(address)) return address.startsWith("127.");
  return isIPv6(address) && formatIPv6(parseIPv6(address)) === "::1";
}

/** The DNS servers a guest is told: the gateway, or in routed mode the admin's upstreams if any. */
export function guestDns(settings: HostNetworkSettings): string[] {
  if (settings.mode === "routed") {
    const upstream = settings.dns.filter((d) => d !== settings.gateway && !isLoopback(d));
    if (upstream.length > 0) return upstream;
  }
  return [settings.gateway];
}

/** The resolver runs exactly when the guests are told to use it. */
export function resolverWanted(settings: HostNetworkSettings): boolean {
  return guestDns(settings).includes(settings.gateway);
}

/** The gateway's addresses on the bridge: the IPv4 gateway and the IPv6 prefix's `::1`. */
export function listenAddresses(settings: HostNetworkSettings): string[] {
  const out = [settings.gateway];
  if (settings.ipv6Prefix) out.push(formatIPv6([...parseIPv6Prefix(settings.ipv6Prefix).slice(0, 7), 1]));
  return out;
}

/** The `nameserver` lines of a resolv.conf that are plain addresses (no `%scope`). */
export function nameserversOf(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === "nameserver" && value && (isIPv4(value) || isIPv6(value))) out.push(value);
  }
  return out;
}

/**
 * The upstreams: the admin's, else (nat mode) the host's resolv.conf ones. `unreachable`: the
 * host's loopback nameservers left out because a named namespace has a loopback of its own.
 */
export function upstreams(
  settings: HostNetworkSettings,
  hostResolvConf: string,
  namedNetns: boolean,
): { servers: string[]; unreachable: string[] } {
  const own = new Set(listenAddresses(settings));
  const configured = settings.dns.filter((d) => !own.has(d));
  if (configured.length > 0 || settings.mode === "isolated") return { servers: configured, unreachable: [] };
  const host = nameserversOf(hostResolvConf).filter((d) => !own.has(d));
  const unreachable = namedNetns ? host.filter(isLoopback) : [];
  return { servers: host.filter((d) => !unreachable.includes(d)), unreachable };
}

/** Every VM with an address, with its IPv6 from its MAC when the settings have a prefix. */
export function dnsHosts(
  settings: HostNetworkSettings,
  vms: { name: string; ipv4: string | null; mac: string }[],
): DnsHost[] {
  return vms
    .filter((c) => c.ipv4)
    .map((c) => ({
      name: c.name,
      ipv4: c.ipv4,
      ipv6: settings.ipv6Prefix ? ipv6FromMac(settings.ipv6Prefix, c.mac) : null,
    }));
}

/** The hosts file dnsmasq reads (`address name` lines, sorted); a bad name or address throws. */
export function hostsText(hosts: DnsHost[]): string {
  const lines: string[] = [];
  for (const h of [...hosts].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!NAME_RE.test(h.name)) throw new Error(`bad VM name ${JSON.stringify(h.name)}`);
    if (h.ipv4 !== null && !isIPv4(h.ipv4)) throw new Error(`bad IPv4 ${JSON.stringify(h.ipv4)}`);
    if (h.ipv6 !== null && !isIPv6(h.ipv6)) throw new Error(`bad IPv6 ${JSON.stringify(h.ipv6)}`);
    if (h.ipv4) lines.push(`${h.ipv4} ${h.name}`);
    if (h.ipv6) lines.push(`${h.ipv6} ${h.name}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

/** dnsmasq's whole configuration (it reads no other file but `hostsFile`). */
export function confText(o: { listen: string[]; servers: string[]; hostsFile: string }): string {
  for (const a of [...o.listen, ...o.servers])
    if (!isIPv4(a) && !isIPv6(a)) throw new Error(`bad address ${JSON.stringify(a)}`);
  if (!/^\/[\w./-]+$/.test(o.hostsFile)) throw new Error(`bad path ${JSON.stringify(o.hostsFile)}`);
  return [
    "# Written by the zaphod agent (net/dns.ts) on every change; edits are lost.",
    // Only the gateway's addresses, never the loopback or any other interface of the namespace.
    "bind-interfaces",
    "except-interface=lo",
    ...o.listen.map((a) => `listen-address=${a}`),
    "no-resolv",
    ...o.servers.map((s) => `server=${s}`),
    "no-hosts",
    `addn-hosts=${o.hostsFile}`,
    // A bare name is a VM's or nobody's; reverse lookups of private ranges stay here.
    "domain-needed",
    "bogus-priv",
    // No pid file (the agent holds the pid), logs on stderr (into the agent's log).
    "pid-file=",
    "log-facility=-",
    "cache-size=1000",
    "",
  ].join("\n");
}

/** The resolver's argv: in the namespace, as nobody with CAP_NET_BIND_SERVICE only, ended with its parent. */
export function resolverArgv(netns: string | null, confFile: string): string[] {
  const caps = "-all,+net_bind_service";
  return [
    ...(netns ? ["nsenter", `--net=${netnsPath(netns)}`, "--"] : []),
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    `--inh-caps=${caps}`,
    `--ambient-caps=${caps}`,
    `--bounding-set=${caps}`,
    "--pdeathsig=TERM",
    "--",
    "dnsmasq",
    "--keep-in-foreground",
    `--conf-file=${confFile}`,
  ];
}

/** Writes `text` to `path` through a new file renamed over it, 0644 whatever the agent's umask. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  await writeFile(tmp, text, { mode: 0o644, flag: "wx" });
  await chmod(tmp, 0o644);
  await rename(tmp, path);
}

export interface ResolverOptions {
  /** The bridge's namespace; null: the host's own. */
  netns: string | null;
  dataDir: string;
  log: (line: string) => void;
  /** The host's resolv.conf (a test passes its own). */
  readResolvConf?: () => Promise<string>;
  /** Delay before restart n (1-based). */
  restartDelayMs?: (n: number) => number;
}

/** The running resolver; every change goes through `update`, one at a time. */
export class Resolver {
  private child: ChildProcess | null = null;
  /** The child has started (dnsmasq said so): a SIGHUP before then would end it. */
  private ready = false;
  private hupWhenReady = false;
  /** What the running child was started with (conf) and last told to read (hosts). */
  private conf = "";
  private hosts = "";
  private restart: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private deaths = 0;
  private stopped = false;

  constructor(private o: ResolverOptions) {}

  get dir(): string {
    return join(this.o.dataDir, "dns");
  }

  /** Brings the resolver in line with the settings and the VMs' names; never throws (logs). */
  update(settings: HostNetworkSettings, hosts: DnsHost[]): Promise<void> {
    this.queue = this.queue
      .then(() => this.apply(settings, hosts))
      .catch((error: unknown) => this.o.log(`dns: ${(error as Error).message}`));
    return this.queue;
  }

  /** Ends the resolver (agent shutdown). */
  stop(): Promise<void> {
    this.stopped = true;
    this.queue = this.queue.then(() => this.end());
    return this.queue;
  }

  private async apply(settings: HostNetworkSettings, hosts: DnsHost[]): Promise<void> {
    if (this.stopped) return;
    if (!resolverWanted(settings)) return this.end();
    await ensureDir(this.dir, null, 0o755);
    const hostsFile = join(this.dir, "hosts");
    const hostsNow = hostsText(hosts);
    const readResolvConf = this.o.readResolvConf ?? (() => readFile("/etc/resolv.conf", "utf8"));
    const up = upstreams(settings, await readResolvConf().catch(() => ""), this.o.netns !== null);
    const conf = confText({ listen: listenAddresses(settings), servers: up.servers, hostsFile });
    if (this.child && conf === this.conf) {
      if (hostsNow === this.hosts) return;
      await writeAtomically(hostsFile, hostsNow);
      this.hosts = hostsNow;
      if (this.ready) this.child.kill("SIGHUP");
      else this.hupWhenReady = true;
      return;
    }
    await this.end();
    await writeAtomically(hostsFile, hostsNow);
    await writeAtomically(join(this.dir, "dnsmasq.conf"), conf);
    this.conf = conf;
    this.hosts = hostsNow;
    if (up.unreachable.length > 0)
      this.o.log(
        `dns: the host's nameserver ${up.unreachable.join(", ")} is on its own loopback, which namespace ${this.o.netns} does not reach: set DNS servers in the network settings`,
      );
    if (up.servers.length === 0)
      this.o.log("dns: no upstream servers: the resolver answers the VMs' names only");
    this.deaths = 0;
    this.spawnChild();
  }

  private spawnChild(): void {
    const [file, ...args] = resolverArgv(this.o.netns, join(this.dir, "dnsmasq.conf"));
    const started = Date.now();
    const child = spawn(file as string, args, {
      shell: false,
      env: baseEnv() as NodeJS.ProcessEnv,
      cwd: "/",
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    this.ready = false;
    this.hupWhenReady = false;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) {
        if (!line.trim() || line.includes("compile time options")) continue;
        this.o.log(`dns: ${line.trim().slice(0, 300)}`);
        // dnsmasq handles its signals from here on (it sets them up before it says so).
        if (this.child === child && !this.ready && line.includes("started, version")) {
          this.ready = true;
          if (this.hupWhenReady) child.kill("SIGHUP");
        }
      }
    });
    child.on("error", (error) => this.o.log(`dns: ${error.message}`));
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = null;
      if (this.stopped) return;
      this.deaths = Date.now() - started > STABLE_MS ? 1 : this.deaths + 1;
      if (this.deaths > MAX_RESTARTS) {
        this.o.log(
          `dns: the resolver died ${MAX_RESTARTS + 1} times in a row; not restarted until the next change`,
        );
        this.conf = "";
        return;
      }
      const delay = this.o.restartDelayMs?.(this.deaths) ?? 1000 * this.deaths;
      this.o.log(`dns: the resolver exited (${signal ?? code}); restart ${this.deaths} in ${delay} ms`);
      this.restart = setTimeout(() => {
        this.restart = null;
        if (!this.stopped && !this.child && this.conf) this.spawnChild();
      }, delay);
      this.restart.unref();
    });
  }

  /** Stops the running resolver by its pid (and any restart due) and waits for it to go. */
  private async end(): Promise<void> {
    if (this.restart) clearTimeout(this.restart);
    this.restart = null;
    const child = this.child;
    this.child = null;
    this.conf = "";
    this.hosts = "";
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}
