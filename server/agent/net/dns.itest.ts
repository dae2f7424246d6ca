/**
 * Issue 12 point 2, "VMs get DNS": a real agent with its bridge in a namespace this test makes, a
 * booted busybox VM and a second one created but never started, and a stand-in upstream
 * (testing/dns-stub.mjs) on that namespace's own loopback (127.0.0.53), set as the admin's
 * upstream. The guest's resolv.conf (from its seed disk) names the gateway, and through it the
 * guest resolves its own name, the other VM's (IPv4 and IPv6; asked over IPv4 and IPv6) and the
 * upstream's test name. The resolver listens on the gateway's addresses only, as nobody; a changed
 * address is answered after a SIGHUP; killed, it is restarted; it ends with the agent, even a
 * SIGKILLed one. Nothing runs in, or sends to, the host's own namespace; everything goes in afterAll.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteNetns, ensureNetns } from "../confine/netns";
import { baseEnv, run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";
import { createNetVms, guestSsh, memberKey, waitForGuestSsh } from "./testing/guests";

const NS = `zt${randomBytes(3).toString("hex")}-dns`;
const GW = "10.77.0.1";
const A = { name: "dnsa", ipv4: "10.77.0.10" };
const B = { name: "dnsb", ipv4: "10.77.0.11" };
const UPSTREAM = { address: "127.0.0.53", name: "up.zaphod.test", answer: "203.0.113.7" };
const STUB = fileURLToPath(new URL("./testing/dns-stub.mjs", import.meta.url));

let h: Harness | undefined;
let keyFile = "";
let stub: ChildProcess | null = null;
const stubQueries: string[] = [];

const harness = (): Harness => {
  if (!h) throw new Error("no harness");
  return h;
};
const inNs = (argv: string[]) =>
  run(["ip", "netns", "exec", NS, ...argv], { allowFailure: true, timeoutMs: 15_000 });
const inGuest = async (command: string) =>
  (await guestSsh(harness(), { netns: NS, keyFile, name: A.name, ipv4: A.ipv4 }, command)).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pids of the dnsmasq processes reading this agent's configuration. */
async function resolverPids(): Promise<number[]> {
  const conf = `--conf-file=${harness().dataDir}/dns/dnsmasq.conf`;
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0] === "dnsmasq" && argv.includes(conf)) out.push(Number(entry));
  }
  return out;
}

/** Waits (5 s at most) until `pids` says what `done` wants. */
async function waitForPids(done: (pids: number[]) => boolean): Promise<number[]> {
  let pids = await resolverPids();
  for (let i = 0; i < 50 && !done(pids); i++) {
    await sleep(100);
    pids = await resolverPids();
  }
  return pids;
}

/** busybox nslookup from the bridge's namespace against the gateway. */
const lookup = async (name: string) => (await inNs(["busybox", "nslookup", name, GW])).stdout;

beforeAll(async () => {
  h = await createHarness({ confine: true });
  await ensureNetns(NS);
  stub = spawn(
    "ip",
    ["netns", "exec", NS, "node", STUB, UPSTREAM.address, "53", UPSTREAM.name, UPSTREAM.answer],
    { env: baseEnv() as NodeJS.ProcessEnv, stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the stub upstream did not listen in 10 s")), 10_000);
    stub?.stdout?.setEncoding("utf8");
    stub?.stdout?.on("data", (text: string) => {
      stubQueries.push(...text.split("\n").filter((l) => l.startsWith("query ")));
      if (text.includes("listening")) {
        clearTimeout(timer);
        resolve();
      }
    });
    stub?.once("exit", (code) => reject(new Error(`the stub upstream exited ${code}`)));
  });
  h.env.ZAPHOD_NET_NETNS = NS;
  await h.startAgent();
  const { settings } = await h.client.call("host.network", {});
  await h.client.call("host.setNetwork", { settings: { ...settings, dns: [UPSTREAM.address] } });
  const key = await memberKey(h);
  keyFile = key.keyFile;
  await createNetVms(h, { [A.name]: A.ipv4, [B.name]: B.ipv4 }, key.line);
}, 180_000);

afterAll(async () => {
  await h?.cleanup().catch(() => undefined);
  if (stub?.pid && stub.exitCode === null) stub.kill("SIGKILL");
  await deleteNetns(NS).catch(() => undefined);
}, 90_000);

describe("the VMs' resolver on the gateway", () => {
  it("the guest is told the gateway and resolves VM names and the upstream's name through it", async () => {
    const c = harness().client;
    expect((await c.run("vm.start", { name: A.name })).result?.stage).toBe("up");
    const up = await waitForGuestSsh(harness(), { netns: NS, keyFile, name: A.name, ipv4: A.ipv4 });
    expect(up.stdout.trim(), up.stderr).toBe("hi");
    expect((await c.call("vm.network", { name: A.name })).dns).toEqual([GW]);
    expect((await inGuest("cat /etc/resolv.conf")).trim()).toBe(`nameserver ${GW}`);
    const own = await inGuest(`nslookup ${A.name}`);
    expect(own).toMatch(new RegExp(`Address:\\s+${A.ipv4.replaceAll(".", "\\.")}\\b`));
    // The other VM is stopped: its name still answers, with its IPv6 from its MAC too.
    const other = await inGuest(`nslookup ${B.name}`);
    expect(other).toMatch(/Address:\s+10\.77\.0\.11\b/);
    expect(other).toContain("fd00:77::fcfd:aff:fe4d:b");
    // Over IPv6 too, to the prefix's ::1 (the packet rules let DNS to it through). A guest that has
    // only just booted may still hold its IPv6 address tentative (duplicate address detection, a
    // second or so): three tries a second apart, and what the guest's IPv6 looked like if none answers.
    let overV6 = "";
    for (let i = 0; i < 3 && !/Address:\s+10\.77\.0\.11\b/.test(overV6); i++) {
      if (i > 0) await sleep(1000);
      overV6 = await inGuest(`nslookup ${B.name} fd00:77::1`);
    }
    if (!/Address:\s+10\.77\.0\.11\b/.test(overV6))
      overV6 += await inGuest("ip -6 addr; ip -6 route; ip -6 neigh");
    expect(overV6).toMatch(/Address:\s+10\.77\.0\.11\b/);
    const forwarded = await inGuest(`nslookup ${UPSTREAM.name}`);
    expect(forwarded).toContain(`Address: ${UPSTREAM.answer}`);
    expect(stubQueries).toContain(`query ${UPSTREAM.name} 1`);
    expect(await inGuest("nslookup nobody.zaphod.test")).not.toContain(UPSTREAM.answer);
  }, 120_000);

  it("listens on the gateway's addresses only (UDP and TCP), as nobody, nothing in the host's namespace", async () => {
    const [pid] = await resolverPids();
    expect(pid).toBeDefined();
    const sockets = (await inNs(["ss", "-lntupH"])).stdout
      .split("\n")
      .filter((l) => l.includes(`pid=${pid},`))
      .map((l) => l.trim().split(/\s+/)[4])
      .sort();
    expect(sockets).toEqual(["10.77.0.1:53", "10.77.0.1:53", "[fd00:77::1]:53", "[fd00:77::1]:53"]);
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    expect(status).toMatch(/^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    expect(status).toMatch(/^CapEff:\s+0000000000000400$/m);
    expect((await run(["ss", "-lnuH"])).stdout).not.toContain(`${GW}:53`);
  });

  it("a changed address is answered after a SIGHUP (a running VM's at its next start); a killed resolver is restarted", async () => {
    const [pid] = await resolverPids();
    await harness().client.call("vm.setNetwork", { name: B.name, ipv4: "10.77.0.12", rateLimitKbit: null });
    expect(await lookup(B.name)).toMatch(/Address:\s+10\.77\.0\.12\b/);
    expect(await resolverPids()).toEqual([pid]);
    // A running VM keeps the address it booted with until its next start: so does its name.
    await harness().client.call("vm.setNetwork", { name: A.name, ipv4: "10.77.0.13", rateLimitKbit: null });
    await harness().client.call("vm.setNetwork", { name: B.name, ipv4: "10.77.0.14", rateLimitKbit: null });
    expect(await lookup(B.name)).toMatch(/Address:\s+10\.77\.0\.14\b/);
    expect(await lookup(A.name)).toMatch(/Address:\s+10\.77\.0\.10\b/);
    process.kill(pid as number, "SIGKILL");
    const after = await waitForPids((p) => p.length === 1 && p[0] !== pid);
    expect(after).toHaveLength(1);
    let answer = "";
    for (let i = 0; i < 20 && !answer.includes(UPSTREAM.answer); i++) {
      answer = await lookup(UPSTREAM.name);
      if (!answer.includes(UPSTREAM.answer)) await sleep(200);
    }
    expect(answer).toContain(UPSTREAM.answer);
  });

  it("ends with the agent, even a SIGKILLed one", async () => {
    expect(await resolverPids()).toHaveLength(1);
    await harness().killAgent("SIGKILL");
    expect(await waitForPids((p) => p.length === 0)).toEqual([]);
  });
});
