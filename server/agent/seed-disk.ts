/**
 * A VM's seed disk in cloud-init's NoCloud format (issue 12 point 3): an ISO 9660 image labelled
 * `cidata` holding `meta-data` (instance-id, hostname), `network-config` (version 2: eth0 by its
 * MAC, addresses, gateways, DNS) and `user-data` (#cloud-config: root's password hash and SSH keys,
 * the VM's own SSH host keys with `ssh_deletekeys: false`, password SSH off). Every value is JSON
 * (which YAML reads as it is), so nothing a member typed is ever parsed as YAML structure.
 *
 * The busybox demo image reads the same disk without cloud-init: the plain files under `zaphod/`
 * (one value per file, no quoting to get wrong) are what its boot script uses.
 *
 * The instance-id is a hash of everything the guest applies, so a change of keys, password or
 * address makes the guest apply it at the next boot, and an unchanged seed changes nothing.
 */
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run } from "./exec";

export type SeedNetwork = {
  mac: string;
  /** "10.77.0.5/24" */
  ipv4: string | null;
  gateway4: string | null;
  /** "fd00:77::fcfd:aff:fe4d:5/64" */
  ipv6: string | null;
  gateway6: string | null;
  dns: string[];
};

export type SeedHostKey = { type: "ed25519" | "ecdsa" | "rsa"; privateKey: string; publicKey: string };

export type SeedSpec = {
  hostname: string;
  network: SeedNetwork | null;
  /** authorized_keys lines, each already parsed and re-encoded by the web tier (and checked again here). */
  sshAuthorizedKeys: string[];
  /** A crypt(3) hash (`$6$…` or `$y$…`), never a password; null leaves root's password as the image has it. */
  rootPasswordHash: string | null;
  hostKeys: SeedHostKey[];
};

const HOSTNAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const KEY_LINE_RE =
  /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,2}( [\x20-\x7e]{1,200})?$/;
const HASH_RE = /^\$(6|5|y|2[abxy]?)\$[./A-Za-z0-9$,=]{8,200}$/;
const PUBLIC_HOST_KEY_RE =
  /^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/]+={0,2}( [\x20-\x7e]{0,100})?$/;

/** Every seed disk has this size (the guest's ubd device keeps the size it opened with). */
export const SEED_DISK_BYTES = 2 * 1024 * 1024;

export class SeedError extends Error {
  override name = "SeedError";
}

/** Defence in depth behind the web tier: only values that cannot break out of their file or line. */
function check(spec: SeedSpec): void {
  if (!HOSTNAME_RE.test(spec.hostname)) throw new SeedError(`bad hostname ${JSON.stringify(spec.hostname)}`);
  for (const line of spec.sshAuthorizedKeys)
    if (!KEY_LINE_RE.test(line)) throw new SeedError("an SSH key is not one authorized_keys line");
  if (spec.rootPasswordHash !== null && !HASH_RE.test(spec.rootPasswordHash))
    throw new SeedError("the root password must be a crypt(3) hash");
  for (const k of spec.hostKeys) {
    if (!PUBLIC_HOST_KEY_RE.test(k.publicKey.trim())) throw new SeedError(`bad ${k.type} public host key`);
    if (
      !/^-----BEGIN OPENSSH PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END OPENSSH PRIVATE KEY-----\n?$/.test(
        k.privateKey,
      )
    )
      throw new SeedError(`bad ${k.type} private host key`);
  }
  const n = spec.network;
  if (n) {
    const plain = /^[0-9a-fA-F.:/]{2,49}$/;
    for (const v of [n.mac, n.ipv4, n.gateway4, n.ipv6, n.gateway6, ...n.dns])
      if (v !== null && !plain.test(v)) throw new SeedError(`bad network value ${JSON.stringify(v)}`);
  }
}

/** The files of the disk, by path; pure. */
export function seedFiles(spec: SeedSpec): Record<string, string> {
  check(spec);
  const n = spec.network;
  const ethernet = n
    ? {
        match: { macaddress: n.mac },
        "set-name": "eth0",
        addresses: [n.ipv4, n.ipv6].filter((a): a is string => a !== null),
        // gateway4/gateway6, not default routes: Debian 12's cloud-init (22.4) reads `to: ::/0`
        // as ::/64 and renders routes for ifupdown with net-tools' `route`; these two become
        // ifupdown's own `gateway` lines (measured with its network_state and ENI renderer).
        ...(n.gateway4 ? { gateway4: n.gateway4 } : {}),
        ...(n.gateway6 ? { gateway6: n.gateway6 } : {}),
        nameservers: { addresses: n.dns },
      }
    : null;
  const networkConfig = { version: 2, ethernets: ethernet ? { eth0: ethernet } : {} };
  const sshKeys: Record<string, string> = {};
  for (const k of spec.hostKeys) {
    sshKeys[`${k.type}_private`] = k.privateKey;
    sshKeys[`${k.type}_public`] = k.publicKey.trim();
  }
  const root: Record<string, unknown> = {
    name: "root",
    lock_passwd: false,
    ssh_authorized_keys: spec.sshAuthorizedKeys,
  };
  if (spec.rootPasswordHash) root.hashed_passwd = spec.rootPasswordHash;
  const userData = {
    hostname: spec.hostname,
    preserve_hostname: false,
    disable_root: false,
    ssh_pwauth: false,
    users: [root],
    ssh_deletekeys: false,
    ssh_keys: sshKeys,
  };
  const applied = JSON.stringify({ networkConfig, userData });
  const instanceId = `zaphod-${createHash("sha256").update(applied).digest("hex").slice(0, 16)}`;
  const files: Record<string, string> = {
    "meta-data": `${JSON.stringify({ "instance-id": instanceId, "local-hostname": spec.hostname }, null, 2)}\n`,
    "network-config": `${JSON.stringify(networkConfig, null, 2)}\n`,
    "user-data": `#cloud-config\n${JSON.stringify(userData, null, 2)}\n`,
    "zaphod/instance-id": `${instanceId}\n`,
    "zaphod/hostname": `${spec.hostname}\n`,
    "zaphod/authorized_keys": spec.sshAuthorizedKeys.map((l) => `${l}\n`).join(""),
  };
  if (spec.rootPasswordHash) files["zaphod/root-hash"] = `${spec.rootPasswordHash}\n`;
  if (n) {
    files["zaphod/mac"] = `${n.mac}\n`;
    if (n.ipv4) files["zaphod/ipv4"] = `${n.ipv4}\n`;
    if (n.gateway4) files["zaphod/gateway4"] = `${n.gateway4}\n`;
    if (n.ipv6) files["zaphod/ipv6"] = `${n.ipv6}\n`;
    if (n.gateway6) files["zaphod/gateway6"] = `${n.gateway6}\n`;
    files["zaphod/dns"] = n.dns.map((d) => `${d}\n`).join("");
  }
  for (const k of spec.hostKeys) {
    files[`zaphod/ssh_host_${k.type}_key`] = k.privateKey.endsWith("\n") ? k.privateKey : `${k.privateKey}\n`;
    files[`zaphod/ssh_host_${k.type}_key.pub`] = `${k.publicKey.trim()}\n`;
  }
  return files;
}

export function instanceIdOf(files: Record<string, string>): string {
  return (files["zaphod/instance-id"] ?? "").trim();
}

/**
 * Writes the ISO 9660 image (Rock Ridge and Joliet names, volume id `cidata`) at `target`, built
 * in a fresh directory beside it (the agent's own directory, which nobody else can write) and
 * padded to a fixed size. The first time it is renamed into place; after that it is written over
 * the same file: a running UML keeps its disk open across a reboot from inside the guest (and a
 * confined one sees the file through a bind mount of that inode), so only the same inode, at the
 * same size, reaches its next boot. The caller sets the owner and mode.
 */
export async function writeSeedDisk(target: string, spec: SeedSpec): Promise<{ instanceId: string }> {
  const files = seedFiles(spec);
  const work = await mkdtemp(join(dirname(target), ".seed-"));
  try {
    const tree = join(work, "tree");
    for (const [name, text] of Object.entries(files)) {
      const path = join(tree, name);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      await writeFile(path, text, { mode: 0o600, flag: "wx" });
    }
    const iso = join(work, "seed.iso");
    await run(["genisoimage", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", tree], {
      timeoutMs: 30_000,
    });
    const image = await readFile(iso);
    if (image.length > SEED_DISK_BYTES)
      throw new SeedError(`the seed disk is ${image.length} bytes, over ${SEED_DISK_BYTES}`);
    const padded = Buffer.alloc(SEED_DISK_BYTES);
    image.copy(padded);
    const existing = await lstat(target).catch(() => null);
    if (existing?.isFile() && existing.size === SEED_DISK_BYTES) {
      const fd = await open(target, constants.O_WRONLY | constants.O_NOFOLLOW);
      try {
        await fd.write(padded, 0, padded.length, 0);
        await fd.sync();
      } finally {
        await fd.close();
      }
    } else {
      await writeFile(iso, padded);
      await rename(iso, target);
    }
    return { instanceId: instanceIdOf(files) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** OpenSSH's fingerprint of a public key line: `SHA256:` and the unpadded base64 of its blob's hash. */
export function hostKeyFingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(" ")[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * The VM's SSH host keys, made once by the agent (`ssh-keygen`, no passphrase) in `dir` (the
 * agent's own 0700 directory for this VM) and kept across boots and instance changes; the panel
 * shows their fingerprints so a member can check the first connection.
 */
export function ensureHostKeys(dir: string): Promise<SeedHostKey[]> {
  // One making per directory at a time: a VM's first vm.setAccess and vm.access (the page) came
  // at once and the second ssh-keygen refused the file the first was writing.
  const held = makingHostKeys.get(dir);
  if (held) return held;
  const making = makeHostKeys(dir).finally(() => makingHostKeys.delete(dir));
  makingHostKeys.set(dir, making);
  return making;
}

const makingHostKeys = new Map<string, Promise<SeedHostKey[]>>();

async function makeHostKeys(dir: string): Promise<SeedHostKey[]> {
  const keys: SeedHostKey[] = [];
  for (const type of ["ed25519", "ecdsa"] as const) {
    const file = join(dir, `ssh_host_${type}_key`);
    const have = await readFile(`${file}.pub`, "utf8").catch(() => null);
    if (have === null) {
      await rm(file, { force: true });
      await run([
        "ssh-keygen",
        "-q",
        "-t",
        type,
        ...(type === "ecdsa" ? ["-b", "256"] : []),
        "-N",
        "",
        "-C",
        "",
        "-f",
        file,
      ]);
    }
    keys.push({
      type,
      privateKey: await readFile(file, "utf8"),
      publicKey: (await readFile(`${file}.pub`, "utf8")).trim(),
    });
  }
  return keys;
}
