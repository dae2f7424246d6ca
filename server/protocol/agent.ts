/**
 * The web tier ⇄ agent protocol: `POST /v1/rpc` requests (one discriminated union of verbs),
 * replies, error codes, events on `GET /v1/events`. Documented in ./README.md.
 * Every verb takes ids and bounded numbers only: never a path, a command or a shell string.
 */
import { z } from "zod";
import { ImageName, MacAddress, OwnerName, VmName } from "./names";
import { ipv4Schema } from "./net";

export const PROTOCOL_VERSION = 1 as const;

/** Features a client may test for (agent.health → capabilities). */
export const CAPABILITIES = [
  "vm.lifecycle",
  "vm.console",
  "events",
  "tasks",
  "host.figures",
  "snapshots",
  "vm.manage",
] as const;
export type Capability = (typeof CAPABILITIES)[number];

export const AGENT_LIMITS = {
  /** Largest `POST /v1/rpc` body; bigger → HTTP 413 + invalid-request. */
  maxRequestBytes: 64 * 1024,
  /** Largest message on the events WebSocket (ws `maxPayload`, both directions). */
  maxEventFrameBytes: 64 * 1024,
  /** Request ids remembered for idempotent replays. */
  idempotencyCacheSize: 1024,
  memoryMiB: { min: 16, max: 65536 },
  storageGiB: { min: 1, max: 4096 },
  swapMiB: { min: 0, max: 65536 },
  /** Console output replayed on attach (tail of the current boot's log). */
  consoleReplayBytes: 512 * 1024,
  /** A console client further behind than this skips ahead to a fresh screen. */
  consoleSkipBytes: 1024 * 1024,
  /** Each boot's console log is truncated when it grows past this. */
  consoleLogMaxBytes: 8 * 1024 * 1024,
  /** Boot logs kept per VM. */
  consoleLogsKept: 5,
  /** Lines kept in a task's log. */
  taskLogLines: 200,
} as const;

export const ERROR_CODES = [
  "not-found",
  "access-denied",
  "invalid-state",
  "conflict",
  "timeout",
  "invalid-request",
  "no-space",
  "internal",
] as const;
export const ErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const HTTP_STATUS_BY_CODE: Record<ErrorCode, number> = {
  "not-found": 404,
  "access-denied": 403,
  "invalid-state": 409,
  conflict: 409,
  timeout: 504,
  "invalid-request": 400,
  "no-space": 507,
  internal: 500,
};

const vm = z.object({ name: VmName }).strict();
const none = z.object({}).strict();

const MemoryMiB = z.number().int().min(AGENT_LIMITS.memoryMiB.min).max(AGENT_LIMITS.memoryMiB.max);
const StorageGiB = z.number().int().min(AGENT_LIMITS.storageGiB.min).max(AGENT_LIMITS.storageGiB.max);

export const CreateVmArgs = z
  .object({
    name: VmName,
    owner: OwnerName,
    image: ImageName,
    memoryMiB: MemoryMiB,
    storageGiB: StorageGiB,
    swapMiB: z.number().int().min(AGENT_LIMITS.swapMiB.min).max(AGENT_LIMITS.swapMiB.max),
    mac: MacAddress.optional(),
    /** The VM's address from the host network's pool (issue 12); the MAC is then made from it. */
    ipv4: ipv4Schema.optional(),
    autostart: z.boolean().default(false),
  })
  .strict();

/** A reboot's fallback when the request does not say (also the console's Ctrl-Alt-Del). */
export const REBOOT_DEFAULTS = { graceSeconds: 90, countdownSeconds: 30 } as const;

/**
 * The free-space reserve on the data directory's filesystem (issue 11 point 3): a share of the
 * filesystem (`percent`) or a fixed size (`bytes`), exactly one.
 */
export const DiskReserveSetting = z.union([
  z.object({ percent: z.number().min(0).max(50) }).strict(),
  z
    .object({
      bytes: z
        .number()
        .int()
        .min(0)
        .max(2 ** 50),
    })
    .strict(),
]);
export type DiskReserveSetting = z.infer<typeof DiskReserveSetting>;

/**
 * What a guest gets at boot through its seed disk (issue 12 point 4): root's SSH keys (each one
 * authorized_keys line, already parsed and re-encoded by the web tier: no options, no line
 * breaks) and root's password as a SHA-512 crypt hash (null: as the image has it).
 */
export const SSH_KEY_LINE =
  /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [\x20-\x7e]{1,200})?$/;
export const GuestAccess = z
  .object({
    sshAuthorizedKeys: z.array(z.string().max(16_384).regex(SSH_KEY_LINE)).max(64),
    rootPasswordHash: z
      .string()
      .regex(/^\$6\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$/)
      .nullable(),
  })
  .strict();
export type GuestAccess = z.infer<typeof GuestAccess>;

/**
 * The host network (issue 12 point 1), kept by the agent (`<data>/network.json`, defaults from its
 * configuration): one bridge with the VMs' subnet and the host as gateway. `isolated`: no route
 * out (the quick start's; VMs reach each other, the gateway's resolver and forwarded ports);
 * `nat`: outbound NAT through the host's default route; `routed`: the subnet is a block of public
 * addresses routed to the host. `dns`: the resolvers VMs are told; empty = a resolver on the
 * gateway address (nat and isolated; routed needs the upstream's).
 */
export const NETWORK_MODES = ["isolated", "nat", "routed"] as const;
export const HostNetworkSettings = z
  .object({
    mode: z.enum(NETWORK_MODES),
    ipv4Subnet: z.string().max(18),
    gateway: ipv4Schema,
    poolFirst: ipv4Schema,
    poolLast: ipv4Schema,
    /** A /64 written as `fd00:77::/64`; null: no IPv6. Each VM's address is the prefix + EUI-64 of its MAC. */
    ipv6Prefix: z.string().max(43).nullable(),
    dns: z.array(ipv4Schema).max(3),
    /** VM-to-VM traffic on the bridge (the VMs of one community often serve each other). */
    vmToVm: z.boolean(),
    /** Outbound TCP port 25 (the seed's worry about spam); 587/465 are never blocked. */
    outboundSmtp: z.boolean(),
  })
  .strict();
export type HostNetworkSettings = z.infer<typeof HostNetworkSettings>;

/** A host port forwarded to a VM's port (issue 12 point 6); TCP only. */
export const PortForward = z
  .object({
    hostPort: z.number().int().min(1).max(65535),
    name: VmName,
    vmPort: z.number().int().min(1).max(65535),
  })
  .strict();
export type PortForward = z.infer<typeof PortForward>;

/** A per-VM rate limit in kbit/s on both directions (null: none). */
const RateLimitKbit = z.number().int().min(64).max(10_000_000).nullable();

/** One-shot boot options (vm.setBootOnce). */
export const BOOT_ONCE_MODES = ["single", "no-storage", "storage-ro"] as const;
export type BootOnceMode = (typeof BOOT_ONCE_MODES)[number];

/**
 * How a boot began and how it ended (vm.boots, issue 14 point 6). A boot is one console log: a
 * start, the panel's reboot or a hard reset begins a new one; a reboot from inside the guest
 * continues in the same log (counted as `guestReboots`).
 */
export const BOOT_CAUSES = ["start", "reboot", "hard-reset", "restore", "found-running"] as const;
export type BootCause = (typeof BOOT_CAUSES)[number];
export const BOOT_ENDS = ["shutdown", "force-off", "reboot", "hard-reset", "guest-halt", "crash"] as const;
export type BootEnd = (typeof BOOT_ENDS)[number];
/** Boot logs kept per VM: the admin's setting (host.setBootLogRetention). */
export const BootLogsKept = z.number().int().min(1).max(200);

const snapshotRef = z.object({ name: VmName, id: z.uuid() }).strict();

/** Every verb with its arguments. Adding a verb = adding a line here (and to README.md). */
const verbs = {
  "agent.health": none,
  "image.list": none,
  "task.get": z.object({ id: z.uuid() }).strict(),
  "vm.list": none,
  "vm.status": vm,
  "vm.create": CreateVmArgs,
  /** `keepSnapshots`: the VM's snapshots are moved aside on the host instead of deleted. */
  "vm.destroy": z
    .object({ name: VmName, confirm: VmName, keepSnapshots: z.boolean().default(false) })
    .strict(),
  "vm.start": vm,
  /**
   * The whole reboot is the agent's task (issue 10 point 2): Ctrl-Alt-Del, then `graceSeconds` for
   * the guest to reach its prompt, then a `countdownSeconds` countdown, then a hard reset. A
   * `vm.reset` while it runs is that reboot's hard reset now (the reply carries the reboot task).
   */
  "vm.reboot": z
    .object({
      name: VmName,
      graceSeconds: z.number().int().min(1).max(3600).default(REBOOT_DEFAULTS.graceSeconds),
      countdownSeconds: z.number().int().min(0).max(3600).default(REBOOT_DEFAULTS.countdownSeconds),
    })
    .strict(),
  "vm.reset": vm,
  "vm.shutdown": vm,
  "vm.poweroff": vm,
  /** Resumes a VM the agent paused for disk space (the admin's decision; see `pausedForSpace`). */
  "vm.resume": vm,
  "vm.setAutostart": z.object({ name: VmName, autostart: z.boolean() }).strict(),
  /**
   * A one-shot boot option for the VM's next start (issue 14 point 1): a single-user shell
   * (`init=/bin/sh`), no storage disk, or the storage disk read-only. It applies to that one boot:
   * unused, it lapses after an hour; a reboot of that boot (from the guest or the panel) starts
   * the VM normally. `mode: null` cancels it.
   */
  "vm.setBootOnce": z.object({ name: VmName, mode: z.enum(BOOT_ONCE_MODES).nullable() }).strict(),
  /** The VM's boots, newest first, each with how it began and ended and its console log's size. */
  "vm.boots": vm,
  /** Applies at the next boot (the running UML keeps its memory). */
  "vm.setMemory": z.object({ name: VmName, memoryMiB: MemoryMiB }).strict(),
  /** Offline: the VM must be stopped; grows the storage disk and its ext4 (never shrinks). */
  "vm.growStorage": z.object({ name: VmName, storageGiB: StorageGiB }).strict(),
  /** Offline: the VM's files move to the new owner's host user (fresh copies, see agent README). */
  /** Root's SSH keys and password hash for the guest, applied by its seed disk at the next boot. */
  "vm.setAccess": z.object({ name: VmName, access: GuestAccess }).strict(),
  /** The VM's SSH host keys and whether its access changed since it booted. */
  "vm.access": vm,
  "vm.setOwner": z.object({ name: VmName, owner: OwnerName }).strict(),
  /** Removes an owner's host user; refused while the owner has a VM. */
  "owner.remove": z.object({ owner: OwnerName }).strict(),
  /** `id`: the snapshot's id, chosen by the web tier (a UUID; the agent's directory name). */
  "snapshot.create": z.object({ name: VmName, id: z.uuid(), includeStorage: z.boolean() }).strict(),
  "snapshot.list": vm,
  /** `confirm` repeats the snapshot id; `safetyId` names the safety snapshot taken first. */
  "snapshot.restore": z
    .object({ name: VmName, id: z.uuid(), confirm: z.uuid(), safetyId: z.uuid() })
    .strict(),
  "snapshot.delete": snapshotRef,
  /** Bytes on disk per VM (one VM, or every VM without `name`). */
  "snapshot.usage": z.object({ name: VmName.optional() }).strict(),
  /** How many boots' console logs each VM keeps (persisted by the agent); older ones are removed. */
  "host.setBootLogRetention": z.object({ keep: BootLogsKept }).strict(),
  /** Sets the free-space reserve (persisted by the agent); the reply is the host's figures. */
  "host.setDiskReserve": z.object({ reserve: DiskReserveSetting }).strict(),
  /** The host network's settings, its state and every VM's address and forwards. */
  "host.network": none,
  /**
   * The panel's newest certificate revocation list (PEM, signed by the CA the agent pinned at
   * `join`): the TCP listener refuses the web certificates it lists from now on. An older CRL than
   * the agent holds, or one the pinned CA did not sign, is refused (`invalid-request`).
   */
  "host.trust": z
    .object({
      crl: z
        .string()
        .min(1)
        .max(32 * 1024),
    })
    .strict(),
  /**
   * Changes the host network (applied now: bridge address, NAT/routes, the VM-to-VM and SMTP
   * rules); a subnet or pool that leaves out an address a VM has is refused (`conflict`).
   */
  "host.setNetwork": z.object({ settings: HostNetworkSettings }).strict(),
  /**
   * A VM's address (next boot; the MAC follows it, the IPv6 address follows the MAC) and rate
   * limit (now when it runs). `ipv4: null` takes the VM off the network. An address outside the
   * pool, the gateway or another VM's is refused (`conflict` / `invalid-request`) with the reason.
   */
  "vm.setNetwork": z
    .object({ name: VmName, ipv4: ipv4Schema.nullable(), rateLimitKbit: RateLimitKbit })
    .strict(),
  /** A VM's addresses, MAC, counters and forwards. */
  "vm.network": vm,
  /**
   * Adds a forward: `hostPort` on the host's forward address (127.0.0.1 in the quick start) to the
   * VM's address. Refused: a port below 1024, one already forwarded or in use on the host, a VM
   * without an address (`conflict` / `invalid-request`, the message says which).
   */
  "forward.add": PortForward,
  "forward.remove": z.object({ hostPort: z.number().int().min(1).max(65535) }).strict(),
  /** An image's SHA-256, size, mtime and kind (reads it whole: publish checks it end to end). */
  "image.checksum": z.object({ name: ImageName }).strict(),
  /**
   * Cold move, on the host a stopped VM leaves: marks it moving (start and autostart refuse it),
   * and answers its config, SSH host keys and each disk's size and SHA-256. `vm.moveAbort` undoes
   * the mark; after the panel switched the VM, `vm.destroy` removes this host's copy.
   */
  "vm.moveOut": vm,
  /**
   * On the host it moves to: a staging directory for the disks (PUT AGENT_PATHS.disk) and for each
   * snapshot's files (PUT AGENT_PATHS.snapshotFile), its manifest as the source wrote it.
   */
  "vm.moveIn": z
    .object({
      name: VmName,
      config: z.looseObject({}),
      hostKeys: z.record(z.string().regex(/^[a-z0-9_.-]{1,64}$/), z.string().max(16 * 1024)),
      snapshots: z
        .array(z.object({ id: z.uuid(), info: z.looseObject({ id: z.uuid(), vm: VmName }) }).strict())
        .max(500)
        .default([]),
    })
    .strict(),
  /** Every disk arrived with its checksum: the VM is installed here (stopped). */
  "vm.moveCommit": vm,
  /** Either side: the move is off (the mark cleared, the staging directory removed). */
  "vm.moveAbort": vm,
} as const;
type Verbs = typeof verbs;
export type Op = keyof Verbs;
export const OPS = Object.keys(verbs) as Op[];
export type ArgsOf<O extends Op> = z.input<Verbs[O]>;
export type ParsedArgsOf<O extends Op> = z.output<Verbs[O]>;

/** Verbs that run as a task: the reply carries the task, progress and the end arrive as events. */
export const TASK_OPS = [
  "vm.create",
  "vm.destroy",
  "vm.start",
  "vm.reboot",
  "vm.reset",
  "vm.shutdown",
  "vm.poweroff",
  "vm.growStorage",
  "vm.setOwner",
  "snapshot.create",
  "snapshot.restore",
] as const satisfies readonly Op[];
export type TaskOp = (typeof TASK_OPS)[number];

/**
 * Who asks, on what basis (issue 11 point 9): the web tier names the acting user with every VM
 * verb; the agent logs it and refuses an `owner` request from someone who is not the VM's
 * recorded owner (defence in depth behind the web tier's check). Work the panel does on a user's
 * behalf later (the reboot fallback's hard reset) names that user. The host CLI sends none.
 */
export const ActorBasis = z.enum(["owner", "admin", "grant"]);
export type ActorBasis = z.infer<typeof ActorBasis>;
export const Actor = z
  .object({
    userId: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9_-]+$/),
    username: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9._-]*$/),
    basis: ActorBasis,
  })
  .strict();
export type Actor = z.infer<typeof Actor>;

/** Verbs on one VM: they may carry an `actor`. */
export const VM_OPS = [
  "vm.status",
  "vm.create",
  "vm.destroy",
  "vm.start",
  "vm.reboot",
  "vm.reset",
  "vm.shutdown",
  "vm.poweroff",
  "vm.resume",
  "vm.setAutostart",
  "vm.setBootOnce",
  "vm.boots",
  "vm.setMemory",
  "vm.growStorage",
  "vm.setOwner",
  "vm.setAccess",
  "vm.access",
  "vm.setNetwork",
  "vm.network",
  "snapshot.create",
  "snapshot.list",
  "snapshot.restore",
  "snapshot.delete",
] as const satisfies readonly Op[];
export type VmOp = (typeof VM_OPS)[number];

function request<O extends Op>(op: O) {
  // Only a VM verb may carry an actor: on any other verb the field is refused like any extra one.
  const actor: z.ZodOptional<typeof Actor> = (VM_OPS as readonly Op[]).includes(op)
    ? Actor.optional()
    : (z.never().optional() as unknown as z.ZodOptional<typeof Actor>);
  return z
    .object({ v: z.literal(PROTOCOL_VERSION), id: z.uuid(), op: z.literal(op), args: verbs[op], actor })
    .strict();
}

/** The one schema every request is validated against, on both sides. */
export const AgentRequest = z.discriminatedUnion("op", [
  request("agent.health"),
  request("image.list"),
  request("task.get"),
  request("vm.list"),
  request("vm.status"),
  request("vm.create"),
  request("vm.destroy"),
  request("vm.start"),
  request("vm.reboot"),
  request("vm.reset"),
  request("vm.shutdown"),
  request("vm.poweroff"),
  request("vm.resume"),
  request("vm.setAutostart"),
  request("vm.setBootOnce"),
  request("vm.boots"),
  request("vm.setMemory"),
  request("vm.growStorage"),
  request("vm.setOwner"),
  request("vm.setAccess"),
  request("vm.access"),
  request("owner.remove"),
  request("snapshot.create"),
  request("snapshot.list"),
  request("snapshot.restore"),
  request("snapshot.delete"),
  request("snapshot.usage"),
  request("host.setDiskReserve"),
  request("host.setBootLogRetention"),
  request("host.network"),
  request("host.trust"),
  request("image.checksum"),
  request("vm.moveOut"),
  request("vm.moveIn"),
  request("vm.moveCommit"),
  request("vm.moveAbort"),
  request("host.setNetwork"),
  request("vm.setNetwork"),
  request("vm.network"),
  request("forward.add"),
  request("forward.remove"),
]);
export type AgentRequest = z.infer<typeof AgentRequest>;

// ── results ─────────────────────────────────────────────────────────────────────────────────

/**
 * `destroying`: a `vm.destroy` began (its marker is on disk) and has not finished — running now
 * when `busy` is `vm.destroy`, else interrupted: nothing but `vm.destroy` is accepted, which
 * finishes it (issue 11 point 1).
 */
export const VM_STATES = ["stopped", "starting", "running", "stopping", "crashed", "destroying"] as const;
export type VmState = (typeof VM_STATES)[number];
/** From the console tail: `up` = at a login prompt or shell; `waiting-at-console` = fsck/maintenance/emergency/panic. */
export const BOOT_STAGES = ["booting", "up", "waiting-at-console"] as const;
export type BootStage = (typeof BOOT_STAGES)[number];

export interface DiskUse {
  /** `root` (COW over the image), `swap`, `storage`. */
  disk: "root" | "swap" | "storage";
  apparentBytes: number;
  allocatedBytes: number;
}

export interface VmConfig {
  name: string;
  owner: string;
  image: string;
  memoryMiB: number;
  storageGiB: number;
  swapMiB: number;
  mac: string;
  /** The VM's IPv4 address (issue 12); null: no network device. */
  ipv4: string | null;
  rateLimitKbit: number | null;
  autostart: boolean;
  createdAt: string;
}

/** The guest's own figures, read from its /proc through mconsole. */
export interface GuestFigures {
  uptimeSeconds: number;
  load: [number, number, number];
  memTotalKiB: number;
  memAvailableKiB: number;
  swapTotalKiB: number;
  swapFreeKiB: number;
}

/** The host's memory (from /proc/meminfo) and the data directory's filesystem. */
export interface HostResources {
  memTotalKiB: number;
  memAvailableKiB: number;
  swapTotalKiB: number;
  swapFreeKiB: number;
  dataDiskTotalBytes: number;
  dataDiskFreeBytes: number;
  /** The free-space reserve in bytes (from `dataDiskReserve`) and the setting it comes from. */
  dataDiskReserveBytes: number;
  dataDiskReserve: DiskReserveSetting;
}

/**
 * Why the agent paused a running VM (mconsole `stop`): free space on the data directory's
 * filesystem fell below the reserve while the VM's disks grew. It resumes (mconsole `go`) when
 * free space is back above the reserve plus a margin, or on `vm.resume`.
 */
export interface SpacePause {
  since: string;
  /** One line for people, e.g. "the host's free disk space fell below its reserve …". */
  reason: string;
  /** What the agent saw when it paused the VM. */
  freeBytes: number;
  reserveBytes: number;
  /** How much the VM's disks grew since the check before. */
  grewBytes: number;
}

/** What a confined VM uses on the host, from its cgroup (memory includes its guest-RAM tmpfs). */
export interface VmHostUse {
  memoryBytes: number;
  memoryLimitBytes: number | null;
  pids: number;
  pidsMax: number | null;
}

export interface VmStatus extends VmConfig {
  state: VmState;
  stage: BootStage | null;
  /** What the console tail matched, e.g. "Give root password for maintenance". */
  stageDetail: string | null;
  pid: number | null;
  /** Host user the VM runs as. */
  hostUser: string;
  bootId: string | null;
  /** Host-side: seconds since the UML process started. */
  processUptimeSeconds: number | null;
  /** Guest-side, through mconsole; null when the VM is not running or mconsole did not answer. */
  guest: GuestFigures | null;
  disks: DiskUse[];
  /** Host-side use from the VM's cgroup while it runs confined; absent or null otherwise. */
  hostUse?: VmHostUse | null;
  /** Set while the agent holds the VM paused for disk space (the state stays `running`). */
  pausedForSpace?: SpacePause | null;
  /** The operation holding the VM's lock, if any. */
  busy: Op | null;
  /** A one-shot boot option waiting for the next start (until `expiresAt`), or null. */
  bootOnce?: BootOncePending | null;
  /** The one-shot option the running boot was started with (the next boot is normal), or null. */
  bootedOnce?: BootOnceMode | null;
}

export interface BootOncePending {
  mode: BootOnceMode;
  setAt: string;
  /** Unused by then, it lapses. */
  expiresAt: string;
  /** Who set it (a username, or "the host"). */
  by: string;
}

export interface ImageInfo {
  name: string;
  kind: "busybox" | "debian" | "other";
  sizeBytes: number;
  allocatedBytes: number;
  createdAt: string;
}

export interface ImageChecksum {
  name: string;
  kind: ImageInfo["kind"];
  sha256: string;
  sizeBytes: number;
  /** Whole seconds: what a UML COW header pins (32-bit seconds). */
  mtimeSeconds: number;
}

export interface MoveManifest {
  config: VmConfig;
  /** The VM's SSH host keys (file name → content), so the guest keeps its identity. */
  hostKeys: Record<string, string>;
  disks: { disk: MoveDisk; sizeBytes: number; sha256: string }[];
  /** Its complete snapshots: each manifest as written, and each file's size and SHA-256. */
  snapshots: {
    id: string;
    info: SnapshotInfo;
    files: { file: MoveSnapshotFile; sizeBytes: number; sha256: string }[];
  }[];
}

/** One boot of a VM (vm.boots). Times are ISO; null where the agent did not see them. */
export interface BootRecord {
  n: number;
  startedAt: string | null;
  cause: BootCause | null;
  /** Null while it runs (or when it ended unseen, before boot records were kept). */
  endedAt: string | null;
  end: BootEnd | null;
  /** For a crash: the console's last line (e.g. "Kernel panic - not syncing: …"). */
  endDetail: string | null;
  /** Reboots from inside the guest during this boot (kernel banners after the first). */
  guestReboots: number;
  /** The console log's size; null once it was removed by the retention. */
  logBytes: number | null;
  running: boolean;
}

export interface HealthResult {
  version: typeof PROTOCOL_VERSION;
  agentVersion: string;
  capabilities: Capability[];
  privileged: boolean;
  /** Every VM runs in its sandbox, netns and cgroup (root agent without ZAPHOD_CONFINE=off). */
  confined: boolean;
  uptimeSeconds: number;
  host: HostResources;
  vms: { total: number; running: number };
  /** Boot logs kept per VM (host.setBootLogRetention). */
  bootLogsKept: number;
}

/** `interrupted`: the agent was killed while the task ran; a restarted agent reports it so. */
export const TASK_STATES = ["running", "succeeded", "failed", "interrupted"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface TaskInfo {
  /** The id of the request that started it. */
  id: string;
  op: TaskOp;
  vm: string;
  state: TaskState;
  /** Short human text of the current step, e.g. "booting". */
  step: string;
  startedAt: string;
  endedAt: string | null;
  error: AgentError | null;
  /** For vm.start/reboot/reset: the status when the VM reached a stage (or timed out waiting). */
  result: VmStatus | null;
  // The three below were added with snapshots; the agent always sends them (optional for older peers).
  /** 0..100 where the agent can tell (snapshot copies), else null. */
  progress?: number | null;
  /** Short lines of what happened (e.g. "guest paused 0.41 s"), at most `taskLogLines`. */
  log?: string[];
  /** snapshot.create: the snapshot made; snapshot.restore: the safety snapshot. */
  snapshot?: SnapshotInfo | null;
  /** vm.reboot: where the reboot's fallback stands (null for other verbs). */
  reboot?: RebootProgress | null;
}

/**
 * A reboot's stages, held by the agent so they survive web restarts: `graceful` (Ctrl-Alt-Del sent,
 * waiting for the prompt until `graceEndsAt`), `countdown` (not back: hard reset at `resetAt`
 * unless it comes up), `hard-reset` (reset done, booting). The task succeeds when the guest is up.
 */
export const REBOOT_STAGES = ["graceful", "countdown", "hard-reset"] as const;
export type RebootStage = (typeof REBOOT_STAGES)[number];
export interface RebootProgress {
  stage: RebootStage;
  graceEndsAt: string | null;
  resetAt: string | null;
  /** What caused the hard reset: the countdown's end, or a `vm.reset` request during the reboot. */
  hardResetBy: "countdown" | "request" | null;
}

export interface SnapshotFile {
  disk: "root" | "storage";
  apparentBytes: number;
  allocatedBytes: number;
}

/** A complete snapshot (an interrupted one is never listed). */
export interface SnapshotInfo {
  id: string;
  vm: string;
  createdAt: string;
  /** `manual` (snapshot.create) or `safety` (taken by snapshot.restore before it overwrote the disks). */
  kind: "manual" | "safety";
  includesStorage: boolean;
  /** The VM's state when it was taken: live (paused for `pauseMs`) or stopped (no pause). */
  live: boolean;
  pauseMs: number | null;
  /** The pristine image the root COW is layered on (name and mtime pinned by the COW header). */
  image: { name: string; mtimeMs: number; sizeBytes: number };
  files: SnapshotFile[];
  apparentBytes: number;
  allocatedBytes: number;
}

export interface SnapshotUsage {
  vms: { vm: string; count: number; allocatedBytes: number; apparentBytes: number }[];
  allocatedBytes: number;
  /** Free bytes on the filesystem holding the snapshots. */
  freeBytes: number;
}

/** A VM's SSH host keys (made once by the agent) and where its guest access stands. */
export interface VmAccessInfo {
  hostKeys: { type: "ed25519" | "ecdsa" | "rsa"; fingerprint: string; publicKey: string }[];
  sshKeyCount: number;
  rootPasswordSet: boolean;
  /** The seed the guest gets at its next boot differs from the one it booted with (or it is stopped). */
  appliesAtNextBoot: boolean;
}

/** Bytes and packets through a VM's network device since it started, as the VM sees them: tx = sent by the VM. */
export interface TrafficCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

/** A VM's place on the host network (issue 12 point 2). */
export interface VmNetworkInfo {
  name: string;
  /** Null: the VM has no address (no network device at its next boot). */
  ipv4: string | null;
  /**
   * While it runs: the address its network device was started with, which it keeps until its next
   * start (a reboot keeps it too); null when stopped or running with no network device.
   */
  liveIpv4: string | null;
  ipv6: string | null;
  mac: string;
  gateway: string | null;
  dns: string[];
  rateLimitKbit: number | null;
  /** While it runs. */
  counters: TrafficCounters | null;
  /** Running, and its next start changes its address (`liveIpv4` → `ipv4`). */
  appliesAtNextBoot: boolean;
  forwards: PortForward[];
}

export interface HostNetworkInfo {
  settings: HostNetworkSettings;
  /** The network namespace the bridge and the VMs' uplinks live in (null: the host's own). */
  netns: string | null;
  bridge: string;
  /** Where forwarded ports listen (e.g. 127.0.0.1 in the quick start, 0.0.0.0 in production). */
  forwardAddress: string;
  /** How forwards are carried: relayed by the agent in userspace, or nftables DNAT. */
  forwardMode: "relay" | "nat";
  forwards: PortForward[];
  /** `liveIpv4`: a running VM's address until its next start (both are taken); null when stopped. */
  vms: { name: string; ipv4: string | null; mac: string; liveIpv4: string | null }[];
  /** Addresses in the pool and how many VMs hold one. */
  poolSize: number;
  poolUsed: number;
}

export interface TaskAccepted {
  task: TaskInfo;
}

export interface ResultOf {
  "agent.health": HealthResult;
  "image.list": { images: ImageInfo[] };
  "task.get": TaskInfo;
  "vm.list": { vms: VmStatus[] };
  "vm.status": VmStatus;
  "vm.create": TaskAccepted;
  "vm.destroy": TaskAccepted;
  "vm.start": TaskAccepted;
  "vm.reboot": TaskAccepted;
  "vm.reset": TaskAccepted;
  "vm.shutdown": TaskAccepted;
  "vm.poweroff": TaskAccepted;
  "vm.setAutostart": VmConfig;
  "vm.setBootOnce": { bootOnce: BootOncePending | null };
  "vm.boots": { boots: BootRecord[]; keep: number };
  "host.setBootLogRetention": { keep: number };
  "vm.setMemory": VmConfig;
  "vm.growStorage": TaskAccepted;
  "vm.setOwner": TaskAccepted;
  "vm.setAccess": VmAccessInfo;
  "vm.access": VmAccessInfo;
  "owner.remove": { owner: string; removed: boolean };
  "snapshot.create": TaskAccepted;
  "snapshot.list": { snapshots: SnapshotInfo[] };
  "snapshot.restore": TaskAccepted;
  "snapshot.delete": { deleted: SnapshotInfo };
  "snapshot.usage": SnapshotUsage;
  "vm.resume": VmStatus;
  "host.setDiskReserve": HostResources;
  "host.network": HostNetworkInfo;
  "host.trust": { crlNumber: number; listening: boolean };
  "image.checksum": ImageChecksum;
  "vm.moveOut": MoveManifest;
  "vm.moveIn": { name: string; staged: true };
  "vm.moveCommit": VmStatus;
  "vm.moveAbort": { name: string; aborted: boolean };
  "host.setNetwork": HostNetworkInfo;
  "vm.setNetwork": VmNetworkInfo;
  "vm.network": VmNetworkInfo;
  "forward.add": HostNetworkInfo;
  "forward.remove": HostNetworkInfo;
}

export interface AgentError {
  code: ErrorCode;
  message: string;
}

export type AgentReply<O extends Op = Op> =
  | { v: typeof PROTOCOL_VERSION; id: string; ok: true; result: ResultOf[O] }
  | { v: typeof PROTOCOL_VERSION; id: string | null; ok: false; error: AgentError };

// ── events (GET /v1/events, text frames of JSON, server → client only) ──────────────────────

export type AgentEvent =
  | { v: 1; type: "hello"; agentVersion: string; capabilities: Capability[] }
  | {
      v: 1;
      type: "vm.state";
      vm: string;
      state: VmState;
      stage: BootStage | null;
      pid: number | null;
      bootId: string | null;
      /** True while the agent holds the VM paused for disk space (`VmStatus.pausedForSpace`). */
      pausedForSpace?: boolean;
    }
  | { v: 1; type: "vm.created"; vm: string }
  | { v: 1; type: "vm.destroyed"; vm: string }
  | { v: 1; type: "task.progress"; task: TaskInfo }
  | { v: 1; type: "task.done"; task: TaskInfo };

/** WebSocket paths, relative to the socket's HTTP origin. */
export const AGENT_PATHS = {
  rpc: "/v1/rpc",
  events: "/v1/events",
  console: (vm: string) => `/v1/vms/${encodeURIComponent(vm)}/console`,
  consolePattern: /^\/v1\/vms\/([^/]+)\/console$/,
  /** GET: an image's bytes; PUT: an image published from another host (TRANSFER_HEADERS). */
  image: (name: string) => `/v1/images/${encodeURIComponent(name)}`,
  imagePattern: /^\/v1\/images\/([a-z][a-z0-9-]{1,30}[a-z0-9])$/,
  /** GET: a disk of a VM moving out; PUT: that disk arriving on the host it moves to. */
  disk: (vm: string, disk: MoveDisk) => `/v1/vms/${encodeURIComponent(vm)}/disks/${disk}`,
  diskPattern: /^\/v1\/vms\/([a-z][a-z0-9-]{1,30}[a-z0-9])\/disks\/(root\.cow|swap\.img|storage\.img)$/,
  /** GET: a snapshot's file of a VM moving out; PUT: that file arriving with it. */
  snapshotFile: (vm: string, id: string, file: MoveSnapshotFile) =>
    `/v1/vms/${encodeURIComponent(vm)}/snapshots/${encodeURIComponent(id)}/${file}`,
  /** GET: one boot's console log, as the console wrote it (vm.boots lists them). */
  bootLog: (vm: string, n: number) => `/v1/vms/${encodeURIComponent(vm)}/boots/${n}/log`,
  bootLogPattern: /^\/v1\/vms\/([a-z][a-z0-9-]{1,30}[a-z0-9])\/boots\/([1-9][0-9]{0,8})\/log$/,
  snapshotFilePattern:
    /^\/v1\/vms\/([a-z][a-z0-9-]{1,30}[a-z0-9])\/snapshots\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/(root\.cow|storage\.img)$/,
} as const;

/** The disks a cold move carries (vm-paths.ts names them). */
export const MOVE_DISKS = ["root.cow", "swap.img", "storage.img"] as const;
export type MoveDisk = (typeof MOVE_DISKS)[number];
/** The files of a snapshot a cold move carries (server/agent/snapshots.ts names them). */
export const MOVE_SNAPSHOT_FILES = ["root.cow", "storage.img"] as const;
export type MoveSnapshotFile = (typeof MOVE_SNAPSHOT_FILES)[number];

/** Headers of a transfer (image publish, cold move): what the receiver checks before it keeps a byte. */
export const TRANSFER_HEADERS = {
  sha256: "x-zaphod-sha256",
  size: "x-zaphod-size",
  /** An image's mtime in whole seconds (a UML COW header pins it). */
  mtimeSeconds: "x-zaphod-mtime",
  kind: "x-zaphod-image-kind",
} as const;
