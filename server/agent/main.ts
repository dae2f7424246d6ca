/**
 * The zaphod host agent: `npm run agent` (tsx server/agent/main.ts). Root: one host user per
 * member; unprivileged: every VM runs as the invoking user. One log line per operation on stderr, or
 * in ZAPHOD_LOG_FILE (rotated at ZAPHOD_LOG_MAX_BYTES, ZAPHOD_LOG_KEEP files kept; log-file.ts).
 * SIGTERM/SIGINT close the socket and exit without touching any VM.
 */

import { randomUUID } from "node:crypto";
import { chmod, chown, copyFile, mkdir, rename, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { loadBootLogRetention } from "./boot-log";
import { type AgentConfig, ConfigError, loadConfig } from "./config";
import { prepareConfinement, setConfinement } from "./confine/vm-confinement";
import { EventBus } from "./event-bus";
import { run } from "./exec";
import { captureProcessOutput } from "./log-file";
import { ensureDir, lstatOrNull } from "./safe-fs";
import { AgentServer } from "./server";
import { SnapshotManager } from "./snapshots";
import { joinPanel, loadTlsFiles, TlsListener } from "./tls";
import { VmManager } from "./vm-manager";

const log = (line: string) => console.error(`${new Date().toISOString()} agent: ${line}`);

async function socketGroupId(config: AgentConfig): Promise<number | null> {
  if (!config.privileged) return null;
  const lookup = async () => run(["getent", "group", "--", config.socketGroup], { allowFailure: true });
  let result = await lookup();
  if (result.code !== 0) {
    await run(["groupadd", "--system", "--", config.socketGroup]);
    log(`created group ${config.socketGroup}`);
    result = await lookup();
  }
  return Number(result.stdout.split(":")[2]);
}

/** Refuses to start when another agent answers on the socket; removes a stale socket file. */
async function claimSocketPath(path: string): Promise<void> {
  const info = await lstatOrNull(path);
  if (!info) return;
  if (!info.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`another agent is listening on ${path}`);
  await unlink(path);
}

/**
 * As root, VMs run as their members' host users, who must be able to walk down to the data
 * directory: refuse to start, in one sentence naming them and the path, when an ancestor is closed
 * (a data directory inside a clone in root's 0700 home, say) rather than failing every boot later.
 */
export async function assertReachableByHostUsers(config: AgentConfig): Promise<void> {
  if (!config.privileged) return;
  for (let dir = dirname(config.dataDir); ; dir = dirname(dir)) {
    const info = await lstatOrNull(dir);
    if (info && (info.mode & 0o001) === 0)
      throw new Error(
        `the VMs' host users (${config.hostUserPrefix}*) cannot reach ${config.dataDir}: ${dir} is mode ${(info.mode & 0o777).toString(8).padStart(4, "0")} (not searchable by other users); set ZAPHOD_DATA_DIR to a directory they can reach, such as /var/lib/zaphod`,
      );
    if (dir === "/") return;
  }
}

/**
 * Copies the UML xstate shim into <data>/lib (root-owned, 0755/0644, written to a temporary name
 * and renamed), where every VM's host user can load it and none can change it.
 */
async function installUmlPreload(config: AgentConfig): Promise<void> {
  if (!config.umlPreloadSource || !config.umlPreload) return;
  const dir = dirname(config.umlPreload);
  await ensureDir(dir, null, 0o755);
  const tmp = `${config.umlPreload}.${process.pid}.tmp`;
  await copyFile(config.umlPreloadSource, tmp);
  await chmod(tmp, 0o644);
  await rename(tmp, config.umlPreload);
}

export async function startAgent(config: AgentConfig) {
  process.umask(0o077);
  // Before anything changes: a TCP listener without the certificates of a `join` is a sentence.
  const tlsFiles = config.listen ? await loadTlsFiles(config.tlsDir) : null;
  await assertReachableByHostUsers(config);
  await mkdir(config.dataDir, { recursive: true, mode: 0o755 });
  await chmod(config.dataDir, 0o755);
  await ensureDir(config.imagesDir, null, 0o755);
  await ensureDir(config.vmsDir, null, 0o755);
  await installUmlPreload(config);
  if (config.confine) setConfinement(await prepareConfinement(config, log));
  const gid = await socketGroupId(config);
  const socketDir = dirname(config.socketPath);
  await mkdir(socketDir, { recursive: true, mode: 0o750 });
  await ensureDir(socketDir, gid === null ? null : { uid: 0, gid }, 0o750);
  await claimSocketPath(config.socketPath);

  const events = new EventBus();
  const manager = new VmManager(config, events, log);
  if (manager.network.host) {
    await manager.network.host.ensureBridge();
    log(`network: bridge ${config.network?.bridge} up in ${config.network?.netns ?? "the host's namespace"}`);
    await manager.network.forwards?.start();
    await manager.network.refreshDns();
  }
  await manager.space.load();
  await loadBootLogRetention(config.dataDir);
  await manager.watcher.rescan();
  // Before the socket opens: a reboot the agent was stopped in is reported interrupted.
  await manager.reboots.recover();
  // Before the socket opens: resume a VM a killed snapshot left paused, report its task interrupted.
  const snapshots = new SnapshotManager(manager, log);
  await snapshots.recover();
  const server = new AgentServer(manager, log, snapshots);
  await new Promise<void>((resolve, reject) => {
    server.http.once("error", reject);
    server.http.listen(config.socketPath, () => resolve());
  });
  await chmod(config.socketPath, 0o660);
  if (gid !== null) await chown(config.socketPath, 0, gid);
  if (tlsFiles) {
    const listener = new TlsListener(config, tlsFiles, log);
    server.attach(listener.server);
    server.trust = listener;
    await listener.start();
  }
  manager.watcher.startSweeping();
  manager.space.start();
  log(
    `listening on ${config.socketPath} (0660${gid === null ? "" : ` root:${config.socketGroup}`}), data ${config.dataDir}, ${config.privileged ? "root: one host user per member" : "unprivileged: VMs run as this user"}`,
  );
  void manager.watcher.autostart(() => randomUUID());
  return { manager, server };
}

async function main(): Promise<void> {
  let config: AgentConfig;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(2);
  }
  if (config.logFile) {
    // From here on every line goes to the rotated, size-capped file (0640), not to stderr.
    process.stderr.write(`agent: logging to ${config.logFile.path}\n`);
    captureProcessOutput(config.logFile);
  }
  if (process.argv[2] === "join") {
    const [panelUrl, token, fingerprint] = process.argv.slice(3);
    if (!panelUrl || !token || !fingerprint) {
      console.error(
        "usage: agent join PANEL-URL TOKEN CA-FINGERPRINT   (the three `zaphod host add` printed)",
      );
      process.exit(2);
    }
    await joinPanel(config, { panelUrl, token, fingerprint }, log);
    return;
  }
  const { manager, server } = await startAgent(config);
  const stop = (signal: string) => {
    log(`${signal}: closing the socket; VMs and their consoles keep running`);
    manager.stop();
    server.closeConsoles();
    server.http.close();
    server.trust?.close();
    void unlink(config.socketPath).catch(() => undefined);
    setTimeout(() => process.exit(0), 200).unref();
  };
  // A failed promise somewhere must not take the socket down (the VMs would survive, the panel would not).
  process.on("unhandledRejection", (error) => log(`unhandled: ${(error as Error)?.stack ?? error}`));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

main().catch((error) => {
  log(`fatal: ${(error as Error).message}`);
  process.exit(1);
});
