// The seed disk as cloud-init and the busybox image read it: a real ISO 9660 made by genisoimage,
// read back with isoinfo (Rock Ridge names), never mounted.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureHostKeys, hostKeyFingerprint, type SeedSpec, seedFiles, writeSeedDisk } from "./seed-disk";

let dir = "";
let spec: SeedSpec;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-seed-"));
  spec = {
    hostname: "alice-vm",
    network: {
      mac: "fe:fd:0a:4d:00:05",
      ipv4: "10.77.0.5/24",
      gateway4: "10.77.0.1",
      ipv6: "fd00:77::fcfd:aff:fe4d:5/64",
      gateway6: "fd00:77::1",
      dns: ["10.77.0.1"],
    },
    sshAuthorizedKeys: [
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBa2bRkRZrR1RQ2G3nVQm6z0CjQe0Q1JmGnT2VZ2jQ0d alice@laptop",
    ],
    rootPasswordHash: "$6$saltsalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ./0123456789abcdefghij",
    hostKeys: await ensureHostKeys(dir),
  };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const isoFile = (iso: string, name: string) =>
  execFileSync("isoinfo", ["-R", "-i", iso, "-x", `/${name}`], { encoding: "utf8" });

describe("the NoCloud seed disk", () => {
  it("is an ISO labelled cidata with meta-data, network-config and user-data cloud-init reads", async () => {
    const iso = path.join(dir, "seed.iso");
    const { instanceId } = await writeSeedDisk(iso, spec);
    expect(execFileSync("isoinfo", ["-d", "-i", iso], { encoding: "utf8" })).toMatch(/^Volume id: cidata$/m);
    const meta = JSON.parse(isoFile(iso, "meta-data"));
    expect(meta).toEqual({ "instance-id": instanceId, "local-hostname": "alice-vm" });
    const net = JSON.parse(isoFile(iso, "network-config"));
    expect(net.ethernets.eth0).toMatchObject({
      match: { macaddress: "fe:fd:0a:4d:00:05" },
      addresses: ["10.77.0.5/24", "fd00:77::fcfd:aff:fe4d:5/64"],
      gateway4: "10.77.0.1",
      gateway6: "fd00:77::1",
      nameservers: { addresses: ["10.77.0.1"] },
    });
    const userData = isoFile(iso, "user-data");
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    const config = JSON.parse(userData.slice("#cloud-config\n".length));
    expect(config).toMatchObject({
      ssh_deletekeys: false,
      ssh_pwauth: false,
      disable_root: false,
      hostname: "alice-vm",
    });
    expect(config.users[0]).toMatchObject({ name: "root", hashed_passwd: spec.rootPasswordHash });
    expect(config.users[0].ssh_authorized_keys).toEqual(spec.sshAuthorizedKeys);
    expect(config.ssh_keys.ed25519_private).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    // The busybox image's plain files say the same.
    expect(isoFile(iso, "zaphod/ipv4")).toBe("10.77.0.5/24\n");
    expect(isoFile(iso, "zaphod/authorized_keys")).toBe(`${spec.sshAuthorizedKeys[0]}\n`);
  });

  it("host keys are made once and their fingerprints are ssh-keygen's", async () => {
    const again = await ensureHostKeys(dir);
    expect(again).toEqual(spec.hostKeys);
    for (const k of again) {
      const out = execFileSync("ssh-keygen", ["-lf", path.join(dir, `ssh_host_${k.type}_key.pub`)], {
        encoding: "utf8",
      });
      expect(out.split(" ")[1]).toBe(hostKeyFingerprint(k.publicKey));
    }
  });

  it("two requests at once for a new VM's host keys both get the same keys (found in the two-hosts e2e: vm.setAccess and vm.access raced)", async () => {
    const fresh = mkdtempSync(path.join(tmpdir(), "zaphod-hostkeys-"));
    try {
      const [a, b, c] = await Promise.all([
        ensureHostKeys(fresh),
        ensureHostKeys(fresh),
        ensureHostKeys(fresh),
      ]);
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      expect(await ensureHostKeys(fresh)).toEqual(a);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it("a change of keys, password or address changes the instance-id; the same seed keeps it", () => {
    const id = (s: SeedSpec) => seedFiles(s)["zaphod/instance-id"];
    expect(id(spec)).toBe(id({ ...spec }));
    expect(id({ ...spec, sshAuthorizedKeys: [] })).not.toBe(id(spec));
    expect(id({ ...spec, rootPasswordHash: null })).not.toBe(id(spec));
    expect(id({ ...spec, network: null })).not.toBe(id(spec));
  });

  it("refuses values that could leave their line or file (defence behind the web tier)", () => {
    expect(() => seedFiles({ ...spec, hostname: "a\nb" })).toThrow(/bad hostname/);
    expect(() => seedFiles({ ...spec, sshAuthorizedKeys: ['command="sh" ssh-ed25519 AAAA'] })).toThrow(
      /SSH key/,
    );
    expect(() => seedFiles({ ...spec, sshAuthorizedKeys: ["ssh-ed25519 AAAA x\nssh-rsa AAAA"] })).toThrow(
      /SSH key/,
    );
    expect(() => seedFiles({ ...spec, rootPasswordHash: "hunter2" })).toThrow(/crypt\(3\) hash/);
    const network = spec.network ? { ...spec.network, dns: ["1.1.1.1\nrunmcd"] } : null;
    expect(() => seedFiles({ ...spec, network })).toThrow(/bad network value/);
  });
});
