/**
 * Issue 12 point 3, the documented Debian image: built by build-debian.ts (cached outside the
 * clone by the hash of that script, testing/cached-debian-image.ts), booted by a real agent with
 * its bridge in a network namespace this test makes, the VM configures itself with cloud-init
 * from the agent's seed disk alone: address, DNS, hostname, root's password hash and SSH keys,
 * and the agent's host keys, which OpenSSH checks with StrictHostKeyChecking=yes. Without a key
 * sshd offers nothing but publickey. Everything it made goes in afterAll.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNetns } from "../confine/netns";
import { run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";
import { cachedDebianImage, installCachedImage } from "../testing/cached-debian-image";

let h: Harness;
const NS = `zt-${randomBytes(4).toString("hex")}`;
const VM = "deb";
const IPV4 = "10.77.0.20";
let keyFile = "";
let known = "";
let hash = "";
let image = "";

beforeAll(async () => {
  const built = await cachedDebianImage((line) => process.stderr.write(`${line}\n`));
  image = built.name;
  process.stderr.write(
    `debian image ${image}: ${built.builtSeconds === null ? "cached" : `built in ${built.builtSeconds} s`}\n`,
  );
  h = await createHarness({ confine: true });
  h.env.ZAPHOD_NET_NETNS = NS;
  await installCachedImage(image, join(h.dataDir, "images"));
  await h.startAgent();
  keyFile = join(h.root, "member-key");
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@laptop", "-f", keyFile]);
  hash = (await run(["openssl", "passwd", "-6", randomBytes(12).toString("hex")])).stdout.trim();
  await h.client.run("vm.create", {
    name: VM,
    owner: "sam",
    image,
    memoryMiB: 256,
    storageGiB: 1,
    swapMiB: 64,
    ipv4: IPV4,
  });
  const line = (await readFile(`${keyFile}.pub`, "utf8")).trim();
  const access = await h.client.call("vm.setAccess", {
    name: VM,
    access: { sshAuthorizedKeys: [line], rootPasswordHash: hash },
  });
  known = join(h.root, "known_hosts");
  await writeFile(known, access.hostKeys.map((k) => `${IPV4} ${k.publicKey.trim()}\n`).join(""));
}, 20 * 60_000);

afterAll(async () => {
  await h?.cleanup().catch(() => undefined);
  await deleteNetns(NS).catch(() => undefined);
}, 90_000);

/** OpenSSH from the bridge's namespace, trusting only the agent's host keys for the VM. */
function ssh(options: string[], command: string, timeoutMs = 30_000) {
  const argv = [
    "ssh",
    ...[
      "StrictHostKeyChecking=yes",
      `UserKnownHostsFile=${known}`,
      "BatchMode=yes",
      "ConnectTimeout=10",
    ].flatMap((o) => ["-o", o]),
    ...options,
    `root@${IPV4}`,
    command,
  ];
  return run(["ip", "netns", "exec", NS, ...argv], { allowFailure: true, timeoutMs });
}
const withKey = (command: string, timeoutMs?: number) =>
  ssh(["-i", keyFile, "-o", "IdentitiesOnly=yes"], command, timeoutMs);

describe("the Debian image with cloud-init", () => {
  it(
    "boots, configures itself from the seed disk and takes the member's key over SSH",
    async () => {
      const started = Date.now();
      await h.client.run("vm.start", { name: VM });
      let out = { code: 1 as number | null, stdout: "", stderr: "" };
      while (Date.now() - started < 6 * 60_000) {
        out = await withKey("hostname");
        if (out.code === 0) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      const toSsh = (Date.now() - started) / 1000;
      expect(out.stdout.trim(), out.stderr).toBe(VM);
      const status = await withKey("cloud-init status --wait", 5 * 60_000);
      const toDone = (Date.now() - started) / 1000;
      process.stderr.write(
        `debian VM: ssh answered ${toSsh.toFixed(1)} s after vm.start, cloud-init done at ${toDone.toFixed(1)} s\n`,
      );
      expect(status.stdout, status.stderr).toMatch(/status: done/);
      // Where the boot's time goes, for the log of the run.
      const blame = await withKey(
        "systemd-analyze time; systemd-analyze critical-chain --no-pager; systemd-analyze blame --no-pager | head -n 8",
      );
      process.stderr.write(`${blame.stdout}\n`);
      const facts = await withKey(
        "cat /etc/hostname; ip -4 -br addr show eth0; cat /proc/swaps; findmnt -n -o SOURCE /data; cat /etc/resolv.conf; getent shadow root | cut -d: -f2; cat /var/lib/cloud/data/instance-id",
      );
      const lines = facts.stdout.split("\n");
      expect(lines[0], facts.stderr).toBe(VM);
      expect(facts.stdout).toContain(`${IPV4}/24`);
      // The VM's swap and storage disks are in use.
      expect(facts.stdout).toMatch(/^\/dev\/ubdb\s+partition/m);
      expect(lines).toContain("/dev/ubdc");
      expect(facts.stdout).toMatch(/^nameserver 10\.77\.0\.1$/m);
      const named = await withKey(`getent ahostsv4 ${VM}`);
      expect(named.stdout, named.stderr).toContain(IPV4);
      expect(lines).toContain(hash);
      const seeded = (await readFile(join(h.dataDir, "vms", VM, "seed-booted"), "utf8")).trim();
      expect(lines).toContain(seeded);
      const log = await readFile(join(h.dataDir, "vms", VM, "console", "boot-000001.log"), "latin1");
      expect(log).toMatch(/Cloud-init v\. [\d.]+ finished at/);
      // The image reports the seed it applied where vm.access reads it back.
      expect(log).toContain(`seed: instance-id ${seeded}`);
      expect((await h.client.call("vm.access", { name: VM })).appliesAtNextBoot).toBe(false);
    },
    12 * 60_000,
  );

  it(
    "a key removed in the panel is refused after the next boot, the new one logs in",
    async () => {
      const newKey = join(h.root, "member-key-2");
      await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@phone", "-f", newKey]);
      const line = (await readFile(`${newKey}.pub`, "utf8")).trim();
      const set = await h.client.call("vm.setAccess", {
        name: VM,
        access: { sshAuthorizedKeys: [line], rootPasswordHash: hash },
      });
      expect(set.appliesAtNextBoot).toBe(true);
      const started = Date.now();
      await h.client.run("vm.reboot", { name: VM });
      const withNewKey = (command: string) => ssh(["-i", newKey, "-o", "IdentitiesOnly=yes"], command);
      let out = { code: 1 as number | null, stdout: "", stderr: "" };
      while (Date.now() - started < 4 * 60_000) {
        out = await withNewKey("cloud-init status --wait >/dev/null; hostname");
        if (out.code === 0) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      process.stderr.write(
        `debian VM: the new key logged in ${((Date.now() - started) / 1000).toFixed(1)} s after vm.reboot\n`,
      );
      expect(out.stdout.trim(), out.stderr).toBe(VM);
      const old = await withKey("true");
      expect(old.code).toBe(255);
      expect(old.stderr).toMatch(/Permission denied \(publickey\)/);
      expect((await h.client.call("vm.access", { name: VM })).appliesAtNextBoot).toBe(false);
    },
    6 * 60_000,
  );

  it("refuses root without a key: sshd offers publickey only", async () => {
    const out = await ssh(
      ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"],
      "true",
    );
    expect(out.code).toBe(255);
    expect(out.stderr).toMatch(/Permission denied \(publickey\)/);
  });
});
