/**
 * Issue 12 point 3, the guest side: every VM boots with its seed disk (cloud-init NoCloud on
 * /dev/ubdd), which the busybox image reads without an admin at its console — the hostname, the
 * VM's own SSH host keys (made once by the agent, the same across boots) and dropbear listening
 * with keys only. A real agent and a real UML VM (the harness's busybox image).
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha512Crypt } from "../web/auth/sha512-crypt";
import { run } from "./exec";
import { createHarness, type Harness } from "./testing/agent-harness";
import { TestConsole } from "./testing/console-client";

let h: Harness;
const VM = "seedy";

beforeAll(async () => {
  h = await createHarness();
  await h.startAgent();
  await h.client.run("vm.create", {
    name: VM,
    owner: "sam",
    image: h.image,
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
}, 120_000);
afterAll(async () => h?.cleanup(), 60_000);

/** Logs in at the console and runs `command`, returning what it printed up to the next prompt. */
async function inGuest(command: string): Promise<string> {
  const c = await TestConsole.open(h.client.openConsole(VM));
  try {
    await c.replayed();
    c.type("\r");
    await c.waitFor(/login: $/m, 30_000);
    const mark = c.text.length;
    c.type("root\r");
    await c.waitFor(/# $/m, 20_000, mark);
    const mark2 = c.text.length;
    c.type(`${command}; echo done-$((6*7))\r`);
    await c.waitFor(/^done-42/m, 20_000, mark2);
    // What follows the echoed command (which the 80-column terminal may wrap) up to the marker.
    const out = c.text.slice(mark2);
    const echoed = out.indexOf("done-$((6*7))");
    return out.slice(out.indexOf("\n", echoed) + 1, out.search(/^done-42/m));
  } finally {
    c.close();
  }
}

describe("the seed disk", () => {
  it("the guest takes its hostname and SSH host keys from it and runs dropbear, keys only", async () => {
    const up = await h.client.run("vm.start", { name: VM });
    expect(up.result?.stage).toBe("up");
    const seed = join(h.dataDir, "vms", VM, "seed.iso");
    const info = await stat(seed);
    // Root's file, readable by the VM's group only: it holds the VM's private host keys.
    expect(info.uid).toBe(0);
    expect(info.mode & 0o777).toBe(0o640);
    const out = await inGuest(
      "hostname; grep -c ' /run/seed iso9660 ' /proc/mounts; ls /etc/dropbear; netstat -ltn | grep -c ':22 '; tr '\\0' ' ' < /proc/$(pidof dropbear)/cmdline; echo",
    );
    const lines = out.split(/\r?\n/).map((l) => l.trim());
    expect(lines[0]).toBe(VM);
    expect(lines[1]).toBe("1");
    expect(out).toMatch(/dropbear_ed25519_host_key/);
    expect(out).toMatch(/dropbear_ecdsa_host_key/);
    expect(lines).toContain("1"); // one listener on :22
    expect(out).toMatch(/dropbear -s -r/); // -s: no password logins over the network
  }, 120_000);

  it("the host keys are made once: the same after a restart of the VM, and the guest serves them", async () => {
    const keyFile = join(h.dataDir, "vms", VM, "host-keys", "ssh_host_ed25519_key");
    const before = await readFile(`${keyFile}.pub`, "utf8");
    await h.client.run("vm.poweroff", { name: VM });
    const up = await h.client.run("vm.start", { name: VM });
    expect(up.result?.stage).toBe("up");
    expect(await readFile(`${keyFile}.pub`, "utf8")).toBe(before);
    // The guest's dropbear key is the agent's key, converted (dropbearconvert is deterministic).
    const converted = join(h.root, "dropbear_ed25519_host_key");
    await run(["dropbearconvert", "openssh", "dropbear", keyFile, converted]);
    const want = createHash("md5")
      .update(await readFile(converted))
      .digest("hex");
    const out = await inGuest("md5sum /etc/dropbear/dropbear_ed25519_host_key");
    expect(out).toContain(want);
  }, 120_000);

  it("root's keys and password set by the panel reach the guest at its next boot, not before", async () => {
    const keyFile = join(h.root, "member-key");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@laptop", "-f", keyFile]);
    const line = (await readFile(`${keyFile}.pub`, "utf8")).trim();
    const hash = sha512Crypt("guest-root-password-1");
    const set = await h.client.call("vm.setAccess", {
      name: VM,
      access: { sshAuthorizedKeys: [line], rootPasswordHash: hash },
    });
    expect(set).toMatchObject({ sshKeyCount: 1, rootPasswordSet: true, appliesAtNextBoot: true });
    expect(set.hostKeys.map((k) => k.type)).toEqual(["ed25519", "ecdsa"]);
    // Root's only: vm.json is world-readable, the hash is not.
    const info = await stat(join(h.dataDir, "vms", VM, "access.json"));
    expect([info.uid, info.mode & 0o777]).toEqual([0, 0o600]);
    // A key with options or a password in clear is refused by the agent too.
    for (const access of [
      { sshAuthorizedKeys: [`command="sh" ${line}`], rootPasswordHash: null },
      { sshAuthorizedKeys: [], rootPasswordHash: "guest-root-password-1" },
    ])
      await expect(h.client.call("vm.setAccess", { name: VM, access } as never)).rejects.toMatchObject({
        code: "invalid-request",
      });

    // A graceful reboot (Ctrl-Alt-Del: the guest reboots itself, the same UML process) applies it.
    expect((await h.client.run("vm.reboot", { name: VM })).result?.stage).toBe("up");
    expect((await h.client.call("vm.access", { name: VM })).appliesAtNextBoot).toBe(false);
    const c = await TestConsole.open(h.client.openConsole(VM));
    try {
      await c.replayed();
      c.type("\r");
      await c.waitFor(/login: $/m, 30_000);
      let mark = c.text.length;
      c.type("root\r");
      await c.waitFor(/Password: $/m, 20_000, mark);
      mark = c.text.length;
      c.type("guest-root-password-1\r");
      await c.waitFor(/# $/m, 20_000, mark);
      mark = c.text.length;
      c.type("cat /root/.ssh/authorized_keys; echo keys-$((6*7))\r");
      await c.waitFor(/^keys-42/m, 20_000, mark);
      expect(c.text.slice(mark)).toContain(line);
    } finally {
      c.close();
    }
  }, 180_000);
});
