/** Agent configuration: the environment is read once, validated with zod, with clear errors. */
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { type DiskReserveSetting, type HostNetworkSettings, NETWORK_MODES } from "../protocol/agent";
import { AddressError, formatIPv4, makePool, parseCidr, parseIPv4, parseIPv6Prefix } from "../protocol/net";
import { DEFAULT_IO_WEIGHT } from "./confine/cgroup";
import { DEFAULT_VM_NICE } from "./confine/sandbox";
import { LOG_FILE_DEFAULTS } from "./log-file";

const safePath = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^[A-Za-z0-9._/+-]+$/,
    "may contain only letters, digits and . _ / + - (it is used in tmux commands)",
  );

const Env = z.object({
  ZAPHOD_DATA_DIR: safePath.optional(),
  ZAPHOD_AGENT_SOCKET: safePath.optional(),
  ZAPHOD_SOCKET_GROUP: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a group name")
    .optional(),
  ZAPHOD_HOST_USER_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,7}$/, "must be 1 to 8 chars of a-z, 0-9, '-' starting with a letter")
    .optional(),
  ZAPHOD_AUTOSTART_CONCURRENCY: z.coerce.number().int().min(1).max(32).optional(),
  ZAPHOD_UML_BINARY: safePath.optional(),
  /** The xstate shim for UML (server/agent/uml-xstate); default: dist/uml-xstate.so beside the agent. */
  ZAPHOD_UML_PRELOAD: safePath.optional(),
  /** VM confinement (confine/: initramfs, bubblewrap sandbox, netns, cgroup); root only, default on. */
  ZAPHOD_CONFINE: z.enum(["on", "off"]).optional(),
  /**
   * The admin's CPU and block-I/O weight for every confined VM, below the agent's and the web
   * tier's: a nice value 1..19 (they run at 0; default 3, weight 526 against 1024) and a BFQ weight
   * 1..99 for the VM's cgroup and all VMs together (they run at 100; default 50). The CPU weight is
   * a nice value, not cpu.shares: see confine/cgroup.ts.
   */
  ZAPHOD_VM_NICE: z.coerce.number().int().min(1).max(19).optional(),
  ZAPHOD_VM_IO_WEIGHT: z.coerce.number().int().min(1).max(99).optional(),
  /** The agent's own log file, rotated at ZAPHOD_LOG_MAX_BYTES, ZAPHOD_LOG_KEEP kept (log-file.ts). */
  ZAPHOD_LOG_FILE: safePath.optional(),
  ZAPHOD_LOG_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(1024 * 1024 * 1024)
    .optional(),
  ZAPHOD_LOG_KEEP: z.coerce.number().int().min(1).max(50).optional(),
  /**
   * The default free-space reserve on the data directory's filesystem (disk-space.ts): `5%` or a
   * size such as `10G`, `512M`. The admin's setting (host page, `host.setDiskReserve`) overrides it.
   */
  ZAPHOD_DISK_RESERVE: z
    .string()
    .regex(/^(\d{1,2}(\.\d{1,2})?%|\d{1,7}[KMGT]?)$/, "must be a share such as 5% or a size such as 10G")
    .optional(),
  /**
   * The host network (issue 12; net/network.ts). Unset: networking off, VMs get no network device.
   * `host`: the bridge lives in the host's own namespace (production); any other name: a network
   * namespace of that name (made with `ip netns add` when missing) holds the bridge and every VM's
   * uplink, nothing of it in the host's own (the quick start's and the tests').
   */
  ZAPHOD_NET_NETNS: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "must be `host` or a network namespace name (a-z, 0-9, '-')")
    .optional(),
  ZAPHOD_NET_MODE: z.enum(NETWORK_MODES).optional(),
  ZAPHOD_NET_SUBNET: z.string().max(18).optional(),
  ZAPHOD_NET_GATEWAY: z.string().max(15).optional(),
  /** A /64 (`fd00:77::/64`), or `none` for no IPv6. */
  ZAPHOD_NET_IPV6_PREFIX: z.string().max(43).optional(),
  ZAPHOD_NET_BRIDGE: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,14}$/, "must be an interface name of 1 to 15 chars a-z, 0-9")
    .optional(),
  /** Where forwarded host ports listen: 127.0.0.1 for a named namespace, 0.0.0.0 for `host` or nft. */
  ZAPHOD_NET_FORWARD_ADDRESS: z.string().max(15).optional(),
  /**
   * How port forwards are carried: `relay` (default; the agent relays each connection in userspace,
   * from its own namespace) or `nft` (nftables DNAT in the bridge's namespace, for a bridge
   * namespace with a route out: mode nat or routed, and a forward address that is not loopback).
   */
  ZAPHOD_NET_FORWARDS: z.enum(["relay", "nft"]).optional(),
  /**
   * The VM's network device: `vector` (default; UML's vector driver on the VM's tap, with GRO:
   * 1.2-4.4x tuntap's TCP throughput for less host CPU, bench/net) or `tuntap` (UML's older
   * driver on the same tap). Both keep the per-VM port and its rules; the guest names it eth0.
   */
  ZAPHOD_NET_NIC: z.enum(["vector", "tuntap"]).optional(),
  /**
   * TEST ONLY: pause at a named point of a snapshot or a destroy (e.g. `snapshot:after-stop`,
   * `destroy:after-disks`) until a file appears (see snapshot-test-hook.ts), so a test can kill -9
   * the agent exactly there.
   */
  /**
   * Listen for the panel over TCP with mutual TLS too (issue 13: agents on other hosts), as
   * ADDRESS:PORT; needs the certificates `join` wrote to ZAPHOD_TLS_DIR (default <data>/tls).
   */
  ZAPHOD_AGENT_LISTEN: z
    .string()
    .regex(/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[a-z0-9.-]{1,253}):\d{1,5}$/, "ADDRESS:PORT")
    .optional(),
  ZAPHOD_TLS_DIR: safePath.optional(),
  ZAPHOD_TEST_PAUSE_AT: z
    .string()
    .regex(/^(snapshot|destroy):[a-z-]{1,32}$/)
    .optional(),
});

export interface AgentConfig {
  privileged: boolean;
  dataDir: string;
  imagesDir: string;
  vmsDir: string;
  socketPath: string;
  socketGroup: string;
  hostUserPrefix: string;
  autostartConcurrency: number;
  umlBinary: string;
  /**
   * A shared object the agent copies into its data directory and preloads into every UML
   * (server/agent/uml-xstate/uml-xstate.c: Debian 12's UML panics on hosts with a large XSAVE
   * area, e.g. CPUs with AMX); null when none was built.
   */
  umlPreloadSource: string | null;
  /** Where the agent installs that shim for the VMs' users to load: <data>/lib/uml-xstate.so. */
  umlPreload: string | null;
  /** Confine every VM (server/agent/confine): a root agent unless ZAPHOD_CONFINE=off; never unprivileged. */
  confine: boolean;
  /** ZAPHOD_VM_NICE / ZAPHOD_VM_IO_WEIGHT: each confined VM's weights, below the agent's. */
  vmWeights: { nice: number; ioWeight: number };
  /** ZAPHOD_DISK_RESERVE (default 5%): the reserve until the admin sets one. */
  diskReserve: DiskReserveSetting;
  /** TEST ONLY (ZAPHOD_TEST_PAUSE_AT): a snapshot pause point, null in production. */
  testPauseAt: string | null;
  /** The host network (ZAPHOD_NET_*); null: networking off. */
  network: NetworkConfig | null;
  /** ZAPHOD_LOG_FILE: everything the agent prints goes there, size-capped and rotated; null: stderr. */
  logFile: { path: string; maxBytes: number; keep: number } | null;
  /** ZAPHOD_AGENT_LISTEN: the mutual-TLS listener for a panel on another host; null: the socket only. */
  listen: { host: string; port: number } | null;
  /** ZAPHOD_TLS_DIR: the key, certificate, pinned CA and CRL `join` wrote (root, 0700). */
  tlsDir: string;
}

export interface NetworkConfig {
  /** The bridge's network namespace; null: the host's own (`ZAPHOD_NET_NETNS=host`). */
  netns: string | null;
  bridge: string;
  forwardAddress: string;
  /** ZAPHOD_NET_FORWARDS: forwards relayed by the agent, or nftables DNAT in the bridge's namespace. */
  forwards: "relay" | "nft";
  /** ZAPHOD_NET_NIC: UML's driver for the VM's tap. */
  nic: "vector" | "tuntap";
  /** The settings until the admin changes them (then `<data>/network.json` holds them). */
  defaults: HostNetworkSettings;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid agent environment:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const privileged = process.getuid?.() === 0;
  const dataDir = resolve(e.ZAPHOD_DATA_DIR ?? (privileged ? "/var/lib/zaphod" : "./.data/agent"));
  const socketPath = resolve(
    e.ZAPHOD_AGENT_SOCKET ?? (privileged ? "/run/zaphod/agent.sock" : join(dataDir, "run/agent.sock")),
  );
  if (!isAbsolute(dataDir)) throw new ConfigError("ZAPHOD_DATA_DIR must resolve to an absolute path");
  if (socketPath.length > 100)
    throw new ConfigError("ZAPHOD_AGENT_SOCKET is too long for a Unix socket path");
  const preloadSource = e.ZAPHOD_UML_PRELOAD ?? defaultUmlPreload();
  return {
    privileged,
    dataDir,
    imagesDir: join(dataDir, "images"),
    vmsDir: join(dataDir, "vms"),
    socketPath,
    socketGroup: e.ZAPHOD_SOCKET_GROUP ?? "zaphod",
    hostUserPrefix: e.ZAPHOD_HOST_USER_PREFIX ?? "zvm-",
    autostartConcurrency: e.ZAPHOD_AUTOSTART_CONCURRENCY ?? 2,
    umlBinary: e.ZAPHOD_UML_BINARY ?? "/usr/bin/linux.uml",
    umlPreloadSource: preloadSource,
    umlPreload: preloadSource ? join(dataDir, "lib", "uml-xstate.so") : null,
    confine: privileged && e.ZAPHOD_CONFINE !== "off",
    vmWeights: {
      nice: e.ZAPHOD_VM_NICE ?? DEFAULT_VM_NICE,
      ioWeight: e.ZAPHOD_VM_IO_WEIGHT ?? DEFAULT_IO_WEIGHT,
    },
    diskReserve: parseDiskReserve(e.ZAPHOD_DISK_RESERVE ?? "5%"),
    testPauseAt: e.ZAPHOD_TEST_PAUSE_AT ?? null,
    network: parseNetworkConfig(e),
    logFile: e.ZAPHOD_LOG_FILE
      ? {
          path: resolve(e.ZAPHOD_LOG_FILE),
          maxBytes: e.ZAPHOD_LOG_MAX_BYTES ?? LOG_FILE_DEFAULTS.maxBytes,
          keep: e.ZAPHOD_LOG_KEEP ?? LOG_FILE_DEFAULTS.keep,
        }
      : null,
    listen: parseListen(e.ZAPHOD_AGENT_LISTEN),
    tlsDir: resolve(e.ZAPHOD_TLS_DIR ?? join(dataDir, "tls")),
  };
}

function parseListen(text: string | undefined): AgentConfig["listen"] {
  if (!text) return null;
  const at = text.lastIndexOf(":");
  const host = text.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(text.slice(at + 1));
  if (!(port >= 1 && port <= 65535))
    throw new ConfigError(`ZAPHOD_AGENT_LISTEN: port ${port} is not 1-65535`);
  return { host, port };
}

/** ZAPHOD_NET_*: null when ZAPHOD_NET_NETNS is unset; every value checked with a sentence. */
function parseNetworkConfig(e: z.infer<typeof Env>): NetworkConfig | null {
  if (!e.ZAPHOD_NET_NETNS) {
    const stray = Object.keys(e).filter((k) => k.startsWith("ZAPHOD_NET_"));
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.join(", ")} set without ZAPHOD_NET_NETNS (networking is off without it)`,
      );
    return null;
  }
  const host = e.ZAPHOD_NET_NETNS === "host";
  const check = <T>(variable: string, f: () => T): T => {
    try {
      return f();
    } catch (error) {
      if (error instanceof AddressError) throw new ConfigError(`${variable}: ${error.message}`);
      throw error;
    }
  };
  const subnetText = e.ZAPHOD_NET_SUBNET ?? "10.77.0.0/24";
  const subnet = check("ZAPHOD_NET_SUBNET", () => parseCidr(subnetText));
  const gateway = e.ZAPHOD_NET_GATEWAY ?? formatIPv4(subnet.network + 1);
  const pool = check("ZAPHOD_NET_GATEWAY", () => makePool(subnetText, gateway));
  const ipv6 = e.ZAPHOD_NET_IPV6_PREFIX ?? "fd00:77::/64";
  if (ipv6 !== "none") check("ZAPHOD_NET_IPV6_PREFIX", () => parseIPv6Prefix(ipv6));
  const forwards = e.ZAPHOD_NET_FORWARDS ?? "relay";
  const mode = e.ZAPHOD_NET_MODE ?? (host ? "nat" : "isolated");
  const forwardAddress =
    e.ZAPHOD_NET_FORWARD_ADDRESS ?? (host || forwards === "nft" ? "0.0.0.0" : "127.0.0.1");
  const address = check("ZAPHOD_NET_FORWARD_ADDRESS", () => parseIPv4(forwardAddress));
  if (forwards === "nft" && mode === "isolated")
    throw new ConfigError(
      "ZAPHOD_NET_FORWARDS=nft needs a bridge namespace with a route out: set ZAPHOD_NET_MODE=nat or routed, or keep relay",
    );
  if (forwards === "nft" && address >>> 24 === 127)
    throw new ConfigError(
      "ZAPHOD_NET_FORWARDS=nft cannot forward a loopback address (DNAT from 127.0.0.0/8 needs route_localnet): give ZAPHOD_NET_FORWARD_ADDRESS a non-loopback address or 0.0.0.0, or keep relay",
    );
  return {
    netns: host ? null : e.ZAPHOD_NET_NETNS,
    bridge: e.ZAPHOD_NET_BRIDGE ?? "zbr0",
    forwardAddress,
    forwards,
    nic: e.ZAPHOD_NET_NIC ?? "vector",
    defaults: {
      mode,
      ipv4Subnet: subnetText,
      gateway,
      poolFirst: formatIPv4(pool.first),
      poolLast: formatIPv4(pool.last),
      ipv6Prefix: ipv6 === "none" ? null : ipv6,
      dns: [],
      vmToVm: true,
      outboundSmtp: false,
    },
  };
}

/** `5%` → a share (at most 50%), `10G` / `512M` / `4096` → bytes. */
export function parseDiskReserve(text: string): DiskReserveSetting {
  if (text.endsWith("%")) {
    const percent = Number(text.slice(0, -1));
    if (percent > 50) throw new ConfigError("ZAPHOD_DISK_RESERVE: at most 50%");
    return { percent };
  }
  const unit = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[text.slice(-1)] ?? 1;
  return { bytes: Number.parseInt(text, 10) * unit };
}

/** dist/uml-xstate.so beside the bundled agent (dist/agent.mjs), or in dist/ when run from source. */
function defaultUmlPreload(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "uml-xstate.so"), join(here, "../../dist/uml-xstate.so")])
    if (existsSync(candidate)) return candidate;
  return null;
}
