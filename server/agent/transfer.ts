/**
 * Images and cold moves between hosts (issue 13 point 3). Agents never talk to each other: the
 * panel reads from one agent and writes to the other, and the receiver keeps nothing whose size and
 * SHA-256 (computed by the sender from its file) do not match what it received.
 *
 *   GET  /v1/images/<name>                 an image's bytes (root-owned, read-only)
 *   PUT  /v1/images/<name>                 an image published here: same name, same bytes, same mtime
 *   GET  /v1/vms/<name>/disks/<disk>       a disk of a VM marked moving (vm.moveOut)
 *   PUT  /v1/vms/<name>/disks/<disk>       that disk into the staging directory (vm.moveIn)
 *   GET  /v1/vms/<name>/snapshots/<id>/<file>   a snapshot's file of that VM
 *   PUT  /v1/vms/<name>/snapshots/<id>/<file>   that file into the staging directory
 *
 * Received files are written sparse (an all-zero 64 KiB block is a hole) by root into root-owned
 * staging files, opened O_EXCL|O_NOFOLLOW; a VM's disks are given to its host user only when the
 * move is committed; its snapshots stay root's (snapshots.ts), installed beside the VM at the commit.
 * A member's disks are read through O_NOFOLLOW descriptors (safe-fs.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { chmod, chown, mkdir, open, readdir, rename, rm, rmdir, utimes, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import {
  type ImageChecksum,
  type ImageInfo,
  MOVE_DISKS,
  type MoveDisk,
  type MoveManifest,
  type MoveSnapshotFile,
  type SnapshotInfo,
  TRANSFER_HEADERS,
  type VmConfig,
  type VmStatus,
} from "../protocol/agent";
import { isSlug } from "../protocol/names";
import { AgentFailure } from "./errors";
import { ensureHostUser } from "./host-users";
import { imagePath } from "./images/publish-image";
import { ensureDir, lstatOrNull, openRegularNoFollow, readSmallFileNoFollow } from "./safe-fs";
import { TMUX_CONF } from "./tmux";
import type { VmManager } from "./vm-manager";
import { vmPaths } from "./vm-paths";

const BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(BLOCK);
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const SNAPSHOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A snapshot's files: what its manifest's disks name. */
const SNAPSHOT_FILE_OF: Record<SnapshotInfo["files"][number]["disk"], MoveSnapshotFile> = {
  root: "root.cow",
  storage: "storage.img",
};

/** The mark a VM carries while it moves out: start and autostart refuse it. */
export function movingMarker(dir: string): string {
  return join(dir, "moving.json");
}

export async function isMovingOut(dir: string): Promise<boolean> {
  return (await lstatOrNull(movingMarker(dir))) !== null;
}

function stagingDir(vmsDir: string, name: string): string {
  if (!isSlug(name)) throw new Error(`refusing VM name ${JSON.stringify(name)}`);
  return join(vmsDir, `.incoming-${name}`);
}

/** SHA-256 and size of a file read through a descriptor opened without following symlinks. */
async function checksumFile(path: string): Promise<{ sha256: string; sizeBytes: number }> {
  const handle = await openRegularNoFollow(path);
  try {
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { sha256: hash.digest("hex"), sizeBytes: size };
  } finally {
    await handle.close();
  }
}

/** Writes the request body to a new file, sparse; its size and SHA-256 must be the headers'. */
async function receiveSparse(
  req: IncomingMessage,
  path: string,
  expect: { sizeBytes: number; sha256: string },
) {
  const handle = await open(path, WRITE_FLAGS, 0o600);
  const hash = createHash("sha256");
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (block: Buffer) => {
    hash.update(block);
    if (block.length !== BLOCK || Buffer.compare(block, ZERO) !== 0)
      await handle.write(block, 0, block.length, offset);
    offset += block.length;
  };
  try {
    for await (const chunk of req) {
      pending.push(chunk as Buffer);
      pendingBytes += (chunk as Buffer).length;
      if (offset + pendingBytes > expect.sizeBytes)
        throw new AgentFailure("invalid-request", "more bytes than announced");
      if (pendingBytes < BLOCK) continue;
      let all = Buffer.concat(pending);
      while (all.length >= BLOCK) {
        await flush(all.subarray(0, BLOCK));
        all = all.subarray(BLOCK);
      }
      pending = all.length ? [all] : [];
      pendingBytes = all.length;
    }
    if (pendingBytes) await flush(Buffer.concat(pending));
    await handle.truncate(offset);
    const sha256 = hash.digest("hex");
    if (offset !== expect.sizeBytes || sha256 !== expect.sha256)
      throw new AgentFailure(
        "invalid-request",
        `received ${offset} bytes with SHA-256 ${sha256.slice(0, 12)}…, expected ${expect.sizeBytes} with ${expect.sha256.slice(0, 12)}…: not kept`,
      );
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  await handle.close();
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === "string" ? value : "";
}

function transferExpectation(req: IncomingMessage): { sizeBytes: number; sha256: string } {
  const sha256 = header(req, TRANSFER_HEADERS.sha256);
  const sizeBytes = Number(header(req, TRANSFER_HEADERS.size));
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new AgentFailure("invalid-request", `${TRANSFER_HEADERS.sha256} is not a SHA-256`);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0)
    throw new AgentFailure("invalid-request", `${TRANSFER_HEADERS.size} is not a size`);
  return { sizeBytes, sha256 };
}

export class Transfers {
  private checksums = new Map<string, ImageChecksum & { key: string }>();

  constructor(private vms: VmManager) {}

  /** `<data>/snapshots/<vm>` (snapshots.ts's store; root 0700). */
  private snapshotsDir(name: string): string {
    if (!isSlug(name)) throw new Error(`refusing VM name ${JSON.stringify(name)}`);
    return join(this.vms.config.dataDir, "snapshots", name);
  }

  private snapshotDir(name: string, id: string): string {
    if (!SNAPSHOT_ID.test(id)) throw new AgentFailure("invalid-request", "not a snapshot id");
    return join(this.snapshotsDir(name), id);
  }

  // ── Images ─────────────────────────────────────────────────────────────────────────────────

  private async imageInfo(name: string): Promise<ImageInfo> {
    const image = (await this.vms.info.images()).find((i) => i.name === name);
    if (!image) throw new AgentFailure("not-found", `no image named ${name}`);
    return image;
  }

  async imageChecksum(name: string): Promise<ImageChecksum> {
    const info = await this.imageInfo(name);
    const path = imagePath(this.vms.config.imagesDir, name);
    const stat = await lstatOrNull(path);
    if (!stat?.isFile()) throw new AgentFailure("not-found", `no image named ${name}`);
    const key = `${stat.size}:${stat.mtimeMs}:${stat.ino}`;
    const cached = this.checksums.get(name);
    if (cached?.key === key)
      return {
        name,
        kind: cached.kind,
        sha256: cached.sha256,
        sizeBytes: cached.sizeBytes,
        mtimeSeconds: cached.mtimeSeconds,
      };
    const { sha256, sizeBytes } = await checksumFile(path);
    const result = {
      name,
      kind: info.kind,
      sha256,
      sizeBytes,
      mtimeSeconds: Math.floor(stat.mtimeMs / 1000),
    };
    this.checksums.set(name, { ...result, key });
    return result;
  }

  async sendImage(name: string, res: ServerResponse): Promise<void> {
    await this.imageInfo(name);
    const handle = await openRegularNoFollow(imagePath(this.vms.config.imagesDir, name));
    const { size } = await handle.stat();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    await pipeFile(handle, res);
  }

  /**
   * An image from another host: kept under its name with its mtime when its bytes are the
   * announced ones; the same image again is a no-op; another image under a taken name is refused.
   */
  async receiveImage(name: string, req: IncomingMessage): Promise<ImageChecksum> {
    const expect = transferExpectation(req);
    const mtimeSeconds = Number(header(req, TRANSFER_HEADERS.mtimeSeconds));
    const kindText = header(req, TRANSFER_HEADERS.kind);
    const kind: ImageInfo["kind"] = kindText === "busybox" || kindText === "debian" ? kindText : "other";
    if (!Number.isSafeInteger(mtimeSeconds) || mtimeSeconds <= 0)
      throw new AgentFailure("invalid-request", `${TRANSFER_HEADERS.mtimeSeconds} is not a time`);
    const dir = this.vms.config.imagesDir;
    const target = imagePath(dir, name);
    if (await lstatOrNull(target)) {
      req.resume();
      const held = await this.imageChecksum(name);
      if (held.sha256 === expect.sha256 && held.mtimeSeconds === mtimeSeconds) return held;
      throw new AgentFailure(
        "conflict",
        `an image named ${name} with other contents is on this host: images are never replaced`,
      );
    }
    await this.vms.space.assertRoom(expect.sizeBytes, `the image ${name}`);
    await ensureDir(dir, null, 0o755);
    const incoming = join(dir, `.incoming-${name}-${randomBytes(4).toString("hex")}`);
    await receiveSparse(req, incoming, expect);
    try {
      await chmod(incoming, 0o444);
      // The middle of the second, so no rounding of the float crosses into the next or the last one.
      await utimes(incoming, mtimeSeconds + 0.5, mtimeSeconds + 0.5);
      await writeFile(
        join(dir, `${name}.json`),
        `${JSON.stringify({ name, kind, createdAt: new Date(mtimeSeconds * 1000).toISOString() })}\n`,
        {
          mode: 0o444,
          flag: constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY,
        },
      );
      await rename(incoming, target);
    } catch (error) {
      await rm(incoming, { force: true });
      throw error;
    }
    return this.imageChecksum(name);
  }

  // ── Cold moves ─────────────────────────────────────────────────────────────────────────────

  private async stoppedRuntime(name: string) {
    const runtime = await this.vms.load(name);
    if (await this.vms.mainProcess(runtime))
      throw new AgentFailure("invalid-state", `${name} is running: stop it before moving it`);
    return runtime;
  }

  /** vm.moveOut: the mark, then the manifest (config, host keys, each disk's size and SHA-256). */
  async moveOut(name: string): Promise<MoveManifest> {
    const runtime = await this.stoppedRuntime(name);
    const unlock = this.vms.tasks.lock(name, "vm.moveOut");
    try {
      await writeFile(
        movingMarker(runtime.paths.dir),
        `${JSON.stringify({ since: new Date().toISOString() })}\n`,
        { mode: 0o600 },
      );
      const disks: MoveManifest["disks"] = [];
      for (const disk of MOVE_DISKS) {
        const path = join(runtime.paths.diskDir, disk);
        if (!(await lstatOrNull(path))) continue;
        disks.push({ disk, ...(await checksumFile(path)) });
      }
      const hostKeys: Record<string, string> = {};
      for (const file of await readdir(runtime.paths.hostKeysDir).catch(() => [] as string[])) {
        if (/^[a-z0-9_.-]{1,64}$/.test(file))
          hostKeys[file] = await readSmallFileNoFollow(join(runtime.paths.hostKeysDir, file), 16 * 1024);
      }
      return { config: runtime.config, hostKeys, disks, snapshots: await this.snapshotsOut(name) };
    } catch (error) {
      await rm(movingMarker(runtime.paths.dir), { force: true });
      throw error;
    } finally {
      unlock();
    }
  }

  /** The VM's complete snapshots (a manifest naming it), each file with its size and SHA-256. */
  private async snapshotsOut(name: string): Promise<MoveManifest["snapshots"]> {
    const dir = this.snapshotsDir(name);
    if (await lstatOrNull(join(dir, ".in-progress.json")))
      throw new AgentFailure(
        "invalid-state",
        `a snapshot of ${name} was interrupted and is not cleaned up yet: restart the agent (it recovers it), then move`,
      );
    const out: MoveManifest["snapshots"] = [];
    for (const id of (await readdir(dir).catch(() => [] as string[])).sort()) {
      if (!SNAPSHOT_ID.test(id)) continue; // temp dirs are never a snapshot
      const info = await readSmallFileNoFollow(join(dir, id, "manifest.json"), 64 * 1024)
        .then((text) => JSON.parse(text) as SnapshotInfo)
        .catch(() => null);
      if (info?.id !== id || info.vm !== name) continue;
      const files: MoveManifest["snapshots"][number]["files"] = [];
      for (const f of info.files) {
        const file = SNAPSHOT_FILE_OF[f.disk];
        files.push({ file, ...(await checksumFile(join(dir, id, file))) });
      }
      out.push({ id, info, files });
    }
    return out;
  }

  async sendSnapshotFile(
    name: string,
    id: string,
    file: MoveSnapshotFile,
    res: ServerResponse,
  ): Promise<void> {
    const runtime = await this.stoppedRuntime(name);
    if (!(await isMovingOut(runtime.paths.dir)))
      throw new AgentFailure("invalid-state", `${name} is not moving (vm.moveOut first)`);
    const handle = await openRegularNoFollow(join(this.snapshotDir(name, id), file));
    const { size } = await handle.stat();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    await pipeFile(handle, res);
  }

  async sendDisk(name: string, disk: MoveDisk, res: ServerResponse): Promise<void> {
    const runtime = await this.stoppedRuntime(name);
    if (!(await isMovingOut(runtime.paths.dir)))
      throw new AgentFailure("invalid-state", `${name} is not moving (vm.moveOut first)`);
    const handle = await openRegularNoFollow(join(runtime.paths.diskDir, disk));
    const { size } = await handle.stat();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    await pipeFile(handle, res);
  }

  /** vm.moveIn: a root-owned staging directory; its image must be here with the same mtime. */
  async moveIn(
    name: string,
    config: VmConfig,
    hostKeys: Record<string, string>,
    snapshots: { id: string; info: SnapshotInfo }[] = [],
  ): Promise<{ name: string; staged: true }> {
    if (config.name !== name) throw new AgentFailure("invalid-request", "the config names another VM");
    for (const s of snapshots) {
      const disks = Array.isArray(s.info.files) ? s.info.files.map((f) => f?.disk) : [];
      if (
        s.info.id !== s.id ||
        s.info.vm !== name ||
        !disks.includes("root") ||
        disks.some((d) => !(d in SNAPSHOT_FILE_OF))
      )
        throw new AgentFailure("invalid-request", `the manifest of snapshot ${s.id} is not one of ${name}'s`);
    }
    const paths = vmPaths(this.vms.config, name);
    if (await lstatOrNull(paths.dir))
      throw new AgentFailure("conflict", `a VM named ${name} exists on this host`);
    if ((await readdir(this.snapshotsDir(name)).catch(() => [] as string[])).length > 0)
      throw new AgentFailure("conflict", `snapshots of an earlier VM named ${name} are on this host`);
    if (!(await lstatOrNull(imagePath(this.vms.config.imagesDir, config.image))))
      throw new AgentFailure("not-found", `the image ${config.image} is not on this host: publish it first`);
    const staging = stagingDir(this.vms.config.vmsDir, name);
    await rm(staging, { recursive: true, force: true });
    await ensureDir(this.vms.config.vmsDir, null, 0o755);
    await mkdir(staging, { mode: 0o700 });
    await mkdir(join(staging, "disk"), { mode: 0o700 });
    await mkdir(join(staging, "host-keys"), { mode: 0o700 });
    for (const [file, text] of Object.entries(hostKeys))
      await writeFile(join(staging, "host-keys", file), text, { mode: 0o600, flag: WRITE_FLAGS });
    // Snapshots stay root's: staged beside the disks, installed into the store at the commit.
    await mkdir(join(staging, "snapshots"), { mode: 0o700 });
    for (const s of snapshots) {
      await mkdir(join(staging, "snapshots", s.id), { mode: 0o700 });
      await writeFile(
        join(staging, "snapshots", s.id, "manifest.json"),
        `${JSON.stringify(s.info, null, 2)}\n`,
        {
          mode: 0o600,
          flag: WRITE_FLAGS,
        },
      );
    }
    await writeFile(
      join(staging, "vm.json"),
      `${JSON.stringify({ ...config, ipv4: null, rateLimitKbit: null, autostart: config.autostart }, null, 2)}\n`,
      { mode: 0o644, flag: WRITE_FLAGS },
    );
    return { name, staged: true };
  }

  async receiveDisk(
    name: string,
    disk: MoveDisk,
    req: IncomingMessage,
  ): Promise<{ disk: MoveDisk; sizeBytes: number }> {
    const staging = stagingDir(this.vms.config.vmsDir, name);
    if (!(await lstatOrNull(join(staging, "vm.json"))))
      throw new AgentFailure("invalid-state", `no move of ${name} is staged here (vm.moveIn first)`);
    const expect = transferExpectation(req);
    await this.vms.space.assertRoom(expect.sizeBytes, `the disk ${disk} of ${name}`);
    const path = join(staging, "disk", disk);
    await rm(path, { force: true });
    await receiveSparse(req, path, expect);
    return { disk, sizeBytes: expect.sizeBytes };
  }

  /** A snapshot's file arriving with its VM: its manifest was staged by vm.moveIn. */
  async receiveSnapshotFile(
    name: string,
    id: string,
    file: MoveSnapshotFile,
    req: IncomingMessage,
  ): Promise<{ id: string; file: MoveSnapshotFile; sizeBytes: number }> {
    if (!SNAPSHOT_ID.test(id)) throw new AgentFailure("invalid-request", "not a snapshot id");
    const dir = join(stagingDir(this.vms.config.vmsDir, name), "snapshots", id);
    if (!(await lstatOrNull(join(dir, "manifest.json"))))
      throw new AgentFailure(
        "invalid-state",
        `no snapshot ${id} of ${name} is staged here (vm.moveIn first)`,
      );
    const expect = transferExpectation(req);
    await this.vms.space.assertRoom(expect.sizeBytes, `the snapshot ${id} of ${name}`);
    const path = join(dir, file);
    await rm(path, { force: true });
    await receiveSparse(req, path, expect);
    return { id, file, sizeBytes: expect.sizeBytes };
  }

  /** vm.moveCommit: the staged VM becomes this host's (its host user owns its disks), stopped. */
  async moveCommit(name: string): Promise<VmStatus> {
    const staging = stagingDir(this.vms.config.vmsDir, name);
    const config = JSON.parse(await readSmallFileNoFollow(join(staging, "vm.json"))) as VmConfig;
    if (!(await lstatOrNull(join(staging, "disk", "root.cow"))))
      throw new AgentFailure("invalid-state", `the root disk of ${name} has not arrived`);
    const stagedSnapshots = join(staging, "snapshots");
    const snapshotIds = (await readdir(stagedSnapshots).catch(() => [] as string[])).filter((id) =>
      SNAPSHOT_ID.test(id),
    );
    for (const id of snapshotIds) {
      const info = JSON.parse(
        await readSmallFileNoFollow(join(stagedSnapshots, id, "manifest.json"), 64 * 1024),
      ) as SnapshotInfo;
      for (const f of info.files)
        if (!(await lstatOrNull(join(stagedSnapshots, id, SNAPSHOT_FILE_OF[f.disk]))))
          throw new AgentFailure("invalid-state", `the snapshot ${id} of ${name} has not fully arrived`);
    }
    const { user } = await ensureHostUser(this.vms.config, config.owner);
    for (const dir of ["run", "ram", "console"]) await mkdir(join(staging, dir), { mode: 0o700 });
    for (const dir of ["disk", "run", "ram", "console"]) await chown(join(staging, dir), user.uid, user.gid);
    for (const file of await readdir(join(staging, "disk")))
      await chown(join(staging, "disk", file), user.uid, user.gid);
    await writeFile(join(staging, "tmux.conf"), TMUX_CONF, { mode: 0o644 });
    await chmod(staging, 0o755);
    const paths = vmPaths(this.vms.config, name);
    // The snapshots first (into the store, root 0700), so the VM never appears without them.
    const store = this.snapshotsDir(name);
    if (snapshotIds.length > 0) {
      await ensureDir(join(this.vms.config.dataDir, "snapshots"), null, 0o700);
      await rmdir(store).catch(() => undefined); // an empty one (moveIn refused any other)
      await rename(stagedSnapshots, store);
    } else await rm(stagedSnapshots, { recursive: true, force: true });
    try {
      await rename(staging, paths.dir);
    } catch (error) {
      if (snapshotIds.length > 0) await rename(store, stagedSnapshots).catch(() => undefined);
      throw error;
    }
    this.vms.events.emit({ v: 1, type: "vm.created", vm: name });
    return this.vms.status(name, { guest: false });
  }

  async moveAbort(name: string): Promise<{ name: string; aborted: boolean }> {
    const staging = stagingDir(this.vms.config.vmsDir, name);
    const staged = (await lstatOrNull(staging)) !== null;
    await rm(staging, { recursive: true, force: true });
    const paths = vmPaths(this.vms.config, name);
    const marked = await isMovingOut(paths.dir);
    await rm(movingMarker(paths.dir), { force: true });
    return { name, aborted: staged || marked };
  }
}

async function pipeFile(handle: import("node:fs/promises").FileHandle, res: ServerResponse): Promise<void> {
  try {
    for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve));
    }
    res.end();
  } finally {
    await handle.close();
  }
}
