/**
 * vm.destroy and the create-failure cleanup against a hostile VM user (issue 11 point 1; security
 * checks 25 and 41), with a real agent as root. The attacker is `testing/member-attacker.c`,
 * compiled here with gcc and run as the VM's uid through setpriv (argument arrays only): it swaps
 * directories inside the VM's tree with symlinks to a root-owned directory outside
 * (renameat2(RENAME_EXCHANGE)) or keeps creating files there, while root removes the tree.
 * Then: a destroy killed half-way (kill -9 at a test pause point) leaves the VM `destroying`,
 * refuses a start, and a second destroy finishes it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./exec";
import { isAlive } from "./host-procs";
import { createHarness, type Harness } from "./testing/agent-harness";

let h: Harness;
let attackerBin: string;
const started: ChildProcess[] = [];

const vmDir = (name: string) => join(h.dataDir, "vms", name);
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function uidOf(owner: string): Promise<{ uid: number; gid: number }> {
  const r = await run(["getent", "passwd", "--", `${h.prefix}${owner}`]);
  const f = r.stdout.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** A root-owned directory outside every VM's tree with 200 files: root must never empty it. */
async function victimDir(name: string): Promise<string> {
  const dir = join(h.root, name);
  await mkdir(dir, { mode: 0o755 });
  for (let i = 0; i < 200; i++)
    await writeFile(join(dir, `file-${i}`), `root's file ${i}\n`, { mode: 0o644 });
  return dir;
}

/**
 * Starts argv as the owner's host user (a member who escaped their guest), with `dir` as the
 * attacker's ATTACK_DIR (never on its command line); resolves once it is in place.
 */
async function asMember(
  owner: string,
  argv: string[],
  dir: string | null = null,
  waitReady = dir !== null,
): Promise<ChildProcess> {
  const { uid, gid } = await uidOf(owner);
  const child = spawn("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...argv], {
    cwd: "/",
    env: { PATH: "/usr/bin:/bin", ...(dir ? { ATTACK_DIR: dir } : {}) } as unknown as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "inherit"],
  });
  started.push(child);
  if (waitReady) {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${argv.join(" ")} did not get ready`)), 30_000);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (text: string) => {
        if (text.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => reject(new Error(`attacker exited with ${code}`)));
    });
  }
  return child;
}

async function gone(child: ChildProcess, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

async function createVm(name: string, owner: string) {
  return h.client.run("vm.create", { name, owner, image: h.image, memoryMiB: 48, storageGiB: 1, swapMiB: 0 });
}

/** The destroy task's end: "succeeded", or "failed: <why>". */
function destroyOutcome(name: string): Promise<string> {
  return h.client.run("vm.destroy", { name, confirm: name }).then(
    (t) => t.state,
    (e: Error) => `failed: ${e.message}`,
  );
}

beforeAll(async () => {
  h = await createHarness();
  attackerBin = join(h.root, "member-attacker");
  const source = fileURLToPath(new URL("./testing/member-attacker.c", import.meta.url));
  await run(["gcc", "-O2", "-Wall", "-o", attackerBin, source]);
  await h.startAgent();
}, 120_000);

afterAll(async () => {
  for (const child of started) if (child.pid && isAlive(child.pid)) child.kill("SIGKILL");
  await h?.cleanup();
});

describe("destroy against a hostile VM user (real agent, root)", () => {
  it("check 25: path confinement and symlinks: the VM's disks, console and run entries replaced by symlinks (to root's files, to /etc, dangling) before destroy: it succeeds and those files keep owner, mode and content", async () => {
    const victim = await victimDir("victim-links");
    const file = join(victim, "file-0");
    const before = await stat(file);
    await createVm("ds-links", "jack");
    const { uid, gid } = await uidOf("jack");
    const ln = (target: string, link: string) =>
      run([
        "setpriv",
        `--reuid=${uid}`,
        `--regid=${gid}`,
        "--clear-groups",
        "--",
        "ln",
        "-sfn",
        "--",
        target,
        link,
      ]);
    const dir = vmDir("ds-links");
    await ln(file, join(dir, "disk", "root.cow"));
    await ln(victim, join(dir, "disk", "storage.img"));
    await ln("/etc", join(dir, "run", "etc"));
    await ln("/nonexistent/zaphod", join(dir, "console", "boot-000001.log"));
    await ln(victim, join(dir, "ram", "victim"));
    const task = await h.client.run("vm.destroy", { name: "ds-links", confirm: "ds-links" });
    expect(task.state).toBe("succeeded");
    expect(await exists(dir)).toBe(false);
    const after = await stat(file);
    expect([after.uid, after.gid, after.mode, after.size, after.mtimeMs]).toEqual([
      before.uid,
      before.gid,
      before.mode,
      before.size,
      before.mtimeMs,
    ]);
    expect((await readdir(victim)).length).toBe(200);
    expect((await stat(victim)).uid).toBe(0);
    expect((await stat("/etc/passwd")).uid).toBe(0);
  }, 180_000);

  it("check 41: root never races a member's tree: a VM-uid process swapping a directory for a symlink to a root-owned directory (renameat2 RENAME_EXCHANGE) during vm.destroy changes nothing outside the VM; its processes are ended", async () => {
    const victim = await victimDir("victim-destroy");
    await createVm("ds-swap", "frank");
    const attacker = await asMember("frank", [
      attackerBin,
      "swap",
      join(vmDir("ds-swap"), "disk"),
      victim,
      "16",
    ]);
    await new Promise((r) => setTimeout(r, 300)); // let it build its pairs
    const outcome = await destroyOutcome("ds-swap");
    const left = (await readdir(victim)).length;
    expect(left, `files left in the root-owned victim dir (destroy: ${outcome})`).toBe(200);
    expect(outcome).toBe("succeeded");
    expect(await exists(vmDir("ds-swap"))).toBe(false);
    expect(await gone(attacker), "the VM uid's attacker was ended by destroy").toBe(true);
  }, 180_000);

  it("check 41: the create-failure cleanup shares it: an attacker in a new VM's disk dir makes vm.create fail and swaps symlinks during the revert; nothing outside changes, no leftover, the owner's other VM and unrelated processes stay", async () => {
    const victim = await victimDir("victim-create");
    await createVm("cr-keep", "gina"); // the host user exists, so the attacker can be waiting
    const { uid } = await uidOf("gina");
    const bystander = await asMember("gina", ["sleep", "600"]);
    // Started before the VM exists: it waits for the disk dir (so no "ready" to wait for here).
    const attacker = await asMember(
      "gina",
      [attackerBin, "swap", victim, "16", "storage.img"],
      join(vmDir("cr-new"), "disk"),
      false,
    );
    const outcome = await createVm("cr-new", "gina").then(
      (t) => t.state,
      (e: Error) => `failed: ${e.message}`,
    );
    const left = (await readdir(victim)).length;
    expect(left, `files left in the root-owned victim dir (create: ${outcome})`).toBe(200);
    expect(outcome, "the planted storage.img directory made the create fail").toMatch(/^failed/);
    expect(await exists(vmDir("cr-new")), "the failed create left nothing behind").toBe(false);
    expect(await gone(attacker), "the attacker in the new VM's tree was ended").toBe(true);
    expect(
      bystander.pid && isAlive(bystander.pid),
      "a process of the uid outside the VM's tree was left alone",
    ).toBe(true);
    expect((await stat(vmDir("cr-keep"))).isDirectory()).toBe(true);
    expect((await h.client.call("vm.status", { name: "cr-keep" })).state).toBe("stopped");
    expect((await stat(join(vmDir("cr-keep"), "disk"))).uid).toBe(uid);
    // The name is free again.
    await createVm("cr-new", "gina");
    bystander.kill("SIGKILL");
  }, 180_000);

  for (const { what, prefix, argv } of [
    {
      what: "keeps creating files in the VM's disk dir (one made unreadable to a plain find)",
      prefix: "fl",
      argv: ["fill"],
    },
    {
      what: "fills the disk dir from a user and mount namespace of its own through a bind mount (its paths never name the VM's directory)",
      prefix: "ns",
      argv: ["nsfill", "/mnt"],
    },
  ]) {
    it(`check 41: a VM-uid process that ${what} cannot block destroy of one of two VMs: it is ended, a bystander process of the uid and the other VM stay`, async () => {
      const [a, b] = [`${prefix}-a`, `${prefix}-b`];
      const owner = `${prefix}owner`;
      await createVm(a, owner);
      await createVm(b, owner);
      const bystander = await asMember(owner, ["sleep", "600"]);
      const filler = await asMember(owner, [attackerBin, ...argv], join(vmDir(a), "disk"));
      await new Promise((r) => setTimeout(r, 300));
      const outcome = await destroyOutcome(a);
      expect(outcome).toBe("succeeded");
      expect(await exists(vmDir(a))).toBe(false);
      expect(await gone(filler), "the filler was ended").toBe(true);
      expect(
        bystander.pid && isAlive(bystander.pid),
        "the uid's process outside this VM's tree was left alone",
      ).toBe(true);
      expect((await h.client.call("vm.status", { name: b })).state).toBe("stopped");
      bystander.kill("SIGKILL");
    }, 180_000);
  }

  it("a destroy killed half-way (agent kill -9) leaves the VM 'destroying': start refused, a second destroy finishes it", async () => {
    await createVm("half", "ivan");
    await h.killAgent("SIGKILL");
    h.env.ZAPHOD_TEST_PAUSE_AT = "destroy:after-disks";
    await h.startAgent();
    await h.client.call("vm.destroy", { name: "half", confirm: "half" });
    const reached = join(h.dataDir, "test-pause", "after-disks.reached");
    const until = Date.now() + 60_000;
    while (!(await exists(reached)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await exists(reached)).toBe(true);
    await h.killAgent("SIGKILL");
    delete (h.env as Record<string, string | undefined>).ZAPHOD_TEST_PAUSE_AT;
    await h.startAgent();

    const status = await h.client.call("vm.status", { name: "half" });
    expect(status.state).toBe("destroying");
    expect(status.busy).toBeNull();
    expect((await h.client.call("vm.list", {})).vms.find((v) => v.name === "half")?.state).toBe("destroying");
    await expect(h.client.call("vm.start", { name: "half" })).rejects.toMatchObject({
      code: "invalid-state",
    });
    await expect(h.client.call("vm.setMemory", { name: "half", memoryMiB: 64 })).rejects.toMatchObject({
      code: "invalid-state",
    });

    const task = await h.client.run("vm.destroy", { name: "half", confirm: "half" });
    expect(task.state).toBe("succeeded");
    expect(await exists(vmDir("half"))).toBe(false);
    expect(await run(["getent", "passwd", "--", `${h.prefix}ivan`], { allowFailure: true })).toMatchObject({
      code: 2,
    });
    await expect(h.client.call("vm.status", { name: "half" })).rejects.toMatchObject({ code: "not-found" });
  }, 240_000);
});
