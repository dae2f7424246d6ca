/**
 * Issue 12 points 2, 3 and 8, the networking core: a real agent with its bridge in a network
 * namespace this test makes (never the host's own), two real UML VMs with addresses from the pool,
 * each on a tap in its own namespace joined to the bridge by a veth. From the bridge's namespace the
 * member's key logs in over SSH with StrictHostKeyChecking=yes against the host key vm.access
 * answers; the VMs reach each other; the counters grow. Everything it made goes in afterAll.
 */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNetns } from "../confine/netns";
import { run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";

let h: Harness;
const NS = `zt-${randomBytes(4).toString("hex")}`;
const VMS = { neta: "10.77.0.10", netb: "10.77.0.11" } as const;
let keyFile = "";

beforeAll(async () => {
  h = await createHarness({ confine: true });
  h.env.ZAPHOD_NET_NETNS = NS;
  await h.startAgent();
  keyFile = join(h.root, "member-key");
  await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@laptop", "-f", keyFile]);
  const line = (await readFile(`${keyFile}.pub`, "utf8")).trim();
  for (const [name, ipv4] of Object.entries(VMS)) {
    await h.client.run("vm.create", {
      name,
      owner: "sam",
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
      ipv4,
    });
    await h.client.call("vm.setAccess", {
      name,
      access: { sshAuthorizedKeys: [line], rootPasswordHash: null },
    });
  }
}, 180_000);

afterAll(async () => {
  await h?.cleanup().catch(() => undefined);
  await deleteNetns(NS).catch(() => undefined);
}, 90_000);

const inNs = (argv: string[], timeoutMs = 30_000) =>
  run(["ip", "netns", "exec", NS, ...argv], { allowFailure: true, timeoutMs });

async function ssh(name: keyof typeof VMS, command: string) {
  const access = await h.client.call("vm.access", { name });
  const known = join(h.root, `known-${name}`);
  const key = access.hostKeys.find((k) => k.type === "ed25519");
  await writeFile(known, `${VMS[name]} ${key?.publicKey.trim()}\n`);
  return inNs(sshArgv(known, [`root@${VMS[name]}`, command]));
}

/** OpenSSH with the member's key, trusting only the host key in `known`. */
function sshArgv(known: string, rest: string[]): string[] {
  const options = [
    "StrictHostKeyChecking=yes",
    `UserKnownHostsFile=${known}`,
    "BatchMode=yes",
    "ConnectTimeout=10",
  ];
  return ["ssh", ...options.flatMap((o) => ["-o", o]), "-i", keyFile, ...rest];
}

describe("the networking core", () => {
  it("refuses a taken address, the gateway and one outside the pool", async () => {
    for (const ipv4 of ["10.77.0.10", "10.77.0.1", "10.78.0.5"])
      await expect(
        h.client.call("vm.setNetwork", { name: "netb", ipv4, rateLimitKbit: null }),
      ).rejects.toMatchObject({ code: "conflict" });
    const info = await h.client.call("host.network", {});
    expect(info).toMatchObject({ netns: NS, bridge: "zbr0", poolUsed: 2 });
  });

  it("a booted VM is reached over SSH from the bridge's namespace with the member's key; VMs reach each other", async () => {
    for (const name of Object.keys(VMS))
      expect((await h.client.run("vm.start", { name })).result?.stage).toBe("up");
    // Nothing of it in the host's own namespace.
    expect((await run(["ip", "-br", "link"])).stdout).not.toMatch(/zbr0|zv[0-9a-f]{6}/);
    const before = await h.client.call("vm.network", { name: "neta" });
    let out = { code: 1 as number | null, stdout: "", stderr: "" };
    for (let i = 0; i < 20 && out.stdout.trim() !== "hi"; i++) {
      out = await ssh("neta", "echo hi");
      if (out.stdout.trim() !== "hi") await new Promise((r) => setTimeout(r, 1000));
    }
    expect(out.stdout.trim(), out.stderr).toBe("hi");
    const ping = await ssh("neta", `ping -c 3 -W 2 ${VMS.netb}`);
    expect(ping.stdout, ping.stderr).toMatch(/3 packets received/);
    const after = await h.client.call("vm.network", { name: "neta" });
    expect(after.counters?.rxBytes ?? 0).toBeGreaterThan(before.counters?.rxBytes ?? 0);
    expect(after.counters?.txBytes ?? 0).toBeGreaterThan(before.counters?.txBytes ?? 0);
    expect(after).toMatchObject({ ipv4: VMS.neta, mac: "fe:fd:0a:4d:00:0a", gateway: "10.77.0.1" });
  }, 240_000);

  it("a port forward on 127.0.0.1 carries SSH from the host's namespace into the VM; bad forwards are refused", async () => {
    const port = 20_000 + (randomBytes(2).readUInt16BE() % 20_000);
    await expect(
      h.client.call("forward.add", { hostPort: 22, name: "netb", vmPort: 22 }),
    ).rejects.toMatchObject({
      code: "invalid-request",
    });
    const info = await h.client.call("forward.add", { hostPort: port, name: "netb", vmPort: 22 });
    expect(info.forwards).toEqual([{ hostPort: port, name: "netb", vmPort: 22 }]);
    expect(info).toMatchObject({ forwardAddress: "127.0.0.1", forwardMode: "relay" });
    await expect(
      h.client.call("forward.add", { hostPort: port, name: "neta", vmPort: 22 }),
    ).rejects.toMatchObject({
      code: "conflict",
    });
    expect((await h.client.call("vm.network", { name: "netb" })).forwards).toEqual([
      { hostPort: port, name: "netb", vmPort: 22 },
    ]);
    const access = await h.client.call("vm.access", { name: "netb" });
    const known = join(h.root, "known-forward");
    const key = access.hostKeys.find((k) => k.type === "ed25519");
    await writeFile(known, `[127.0.0.1]:${port} ${key?.publicKey.trim()}\n`);
    // From the host's own namespace: the agent relays 127.0.0.1:port into the bridge's.
    const out = await run(sshArgv(known, ["-p", String(port), "root@127.0.0.1", "hostname"]), {
      allowFailure: true,
      timeoutMs: 30_000,
    });
    expect(out.stdout.trim(), out.stderr).toBe("netb");
    expect((await h.client.call("forward.remove", { hostPort: port })).forwards).toEqual([]);
  }, 120_000);
});
