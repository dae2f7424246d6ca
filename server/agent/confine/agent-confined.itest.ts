/**
 * The agent with confinement on (the default for a root agent): a VM it provisions and starts
 * runs inside its sandbox and cgroup, `vm.status` reports the cgroup's figures, and every process
 * of the VM's uid — the agent's own tmux clients included — is inside that sandbox and cgroup. The
 * attacks on a confined VM itself are in ./confine.itest.ts; this checks the agent's own paths.
 */
import { spawn } from "node:child_process";
import { chown, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../exec";
import { createHarness, type Harness } from "../testing/agent-harness";
import { TestConsole } from "../testing/console-client";

let h: Harness;
const VM = "vm-boxed";
const VM_B = "vm-other";
let umlPid = 0;
let user = { uid: -1, gid: -1 };
let runDir = "";

beforeAll(async () => {
  h = await createHarness({ confine: true });
  await h.startAgent();
  runDir = join(h.dataDir, "vms", VM, "run");
}, 120_000);

afterAll(async () => {
  await h?.cleanup();
}, 120_000);

async function uidsOf(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return {
    uid: Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]),
    gid: Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]),
  };
}

/** What the VM's host user runs after a guest escape: inside the sandbox, in UML's namespaces. */
function asEscapedVmUser(argv: string[]): string[] {
  return [
    "nsenter",
    `--target=${umlPid}`,
    "--mount",
    "--net",
    "--pid",
    "--ipc",
    "--uts",
    "--",
    "setpriv",
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    "--clear-groups",
    "--",
    ...argv,
  ];
}

/** Every host process of the VM's uid, by real uid (a process cannot hide it). */
async function processesOfVmUser(): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, "utf8").catch(() => "");
    if (Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === user.uid) out.push(Number(entry));
  }
  return out;
}

const ns = (pid: number | "self", kind: string) => readlink(`/proc/${pid}/ns/${kind}`);

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A tmux "server" on the VM's socket that answers any client with MSG_SHELL <program> (tmux 3.3). */
const FAKE_TMUX_SERVER = `
const net = require("node:net");
const [sock, program] = process.argv.slice(2);
net.createServer((c) => {
  let buf = Buffer.alloc(0), sent = false;
  c.on("error", () => {});
  c.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 16 && buf.length >= buf.readUInt16LE(4)) {
      const type = buf.readUInt32LE(0);
      buf = buf.subarray(buf.readUInt16LE(4));
      if ((type === 106 || type === 200) && !sent) {
        sent = true;
        const data = Buffer.from(program + "\\0"), h = Buffer.alloc(16);
        h.writeUInt32LE(209, 0); h.writeUInt16LE(16 + data.length, 4); h.writeUInt32LE(8, 8); h.writeUInt32LE(process.pid, 12);
        c.write(Buffer.concat([h, data]));
      }
    }
  });
}).listen(sock, () => console.log("listening"));
setTimeout(() => process.exit(0), 30000);
`;

describe("agent with confinement on (the default)", () => {
  it("starts a VM confined: its cgroup counts memory and processes, UML has no privileges", async () => {
    const created = await h.client.run("vm.create", {
      name: VM,
      owner: "bob",
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
    });
    expect(created.state).toBe("succeeded");
    const started = await h.client.run("vm.start", { name: VM });
    expect(started.state).toBe("succeeded");
    const status = await h.client.call("vm.status", { name: VM });
    expect(status.state).toBe("running");
    expect(status.hostUse?.memoryBytes).toBeGreaterThan(16 * 2 ** 20);
    expect(status.hostUse?.pidsMax).toBe(512);
    expect(status.hostUse?.pids).toBeGreaterThan(2);
    umlPid = status.pid as number;
    user = await uidsOf(umlPid);
    const proc = await readFile(`/proc/${umlPid}/status`, "utf8");
    expect(proc).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(proc).toMatch(/^CapEff:\s+0+$/m);
    const cgroups = await readFile(`/proc/${umlPid}/cgroup`, "utf8");
    expect(cgroups).toContain(`/${VM}`);
    // No cpu controller (it stalled the host under a console flood): the CPU weight is the nice
    // value, on UML and on its session's autogroup (README § Confinement).
    expect(cgroups).not.toMatch(new RegExp(`^\\d+:[^:]*\\bcpu\\b[^:]*:.*/${VM}$`, "m"));
    const nice = Number((await readFile(`/proc/${umlPid}/stat`, "utf8")).split(") ")[1]?.split(" ")[16]);
    expect(nice).toBe(3);
    const autogroup = await readFile(`/proc/${umlPid}/autogroup`, "utf8").catch(() => null);
    if (autogroup !== null) expect(autogroup).toMatch(/ nice 3$/m);
  }, 180_000);

  it("check 46: VM → host services: a tmux server of the VM's user cannot make the agent's tmux client run its program outside the sandbox", async () => {
    // The VM's user (after a guest escape) swaps its tmux socket for a server that answers every
    // client with MSG_SHELL <program>, as tmux's protocol allows: a client execs that program as
    // the VM's uid, in whatever namespaces the client runs in. The agent's next tmux client (the
    // console's control client here) must run it inside the sandbox: no host network, no host files.
    const listener = createServer((s) => s.end("host service\n"));
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as { port: number }).port;
    const fake = join(runDir, "fake-tmux.js");
    const program = join(runDir, "evil");
    const evidence = join(runDir, "escaped.json");
    await writeFile(fake, FAKE_TMUX_SERVER, { mode: 0o644 });
    await writeFile(
      program,
      `#!/bin/sh
exec node -e '
const fs = require("node:fs"), net = require("node:net");
const s = net.connect({ host: "127.0.0.1", port: ${port} });
const done = (tcp) => { fs.writeFileSync("${evidence}", JSON.stringify({ tcp, etc: fs.existsSync("/etc/passwd"),
  mnt: fs.readlinkSync("/proc/self/ns/mnt"), net: fs.readlinkSync("/proc/self/ns/net") })); process.exit(0); };
s.once("connect", () => done("connected")); s.once("error", (e) => done(e.code)); setTimeout(() => done("timeout"), 3000);'
`,
      { mode: 0o755 },
    );
    for (const file of [fake, program]) await chown(file, user.uid, user.gid);
    const sock = join(runDir, "tmux.sock");
    await run(asEscapedVmUser(["mv", "--", sock, `${sock}.real`]));
    const [file, ...args] = asEscapedVmUser(["node", fake, sock, program]);
    const server = spawn(file as string, args, { stdio: ["ignore", "pipe", "inherit"] });
    try {
      await new Promise<void>((resolve) => server.stdout?.once("data", () => resolve()));
      const c = await TestConsole.open(h.client.openConsole(VM));
      c.type("x");
      const seen = JSON.parse(await until("the program's evidence", () => readFile(evidence, "utf8")));
      c.close();
      expect(seen.mnt).toBe(await ns(umlPid, "mnt"));
      expect(seen.net).toBe(await ns(umlPid, "net"));
      expect(seen.mnt).not.toBe(await ns("self", "mnt"));
      expect(seen.tcp).not.toBe("connected");
      expect(seen.etc).toBe(false);
    } finally {
      server.kill("SIGKILL");
      // The fake server itself runs in the sandbox's pid namespace: end it by its host pid.
      const fakes: number[] = [];
      for (const pid of await processesOfVmUser()) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
        if (cmdline.includes(fake)) fakes.push(pid);
      }
      for (const pid of fakes)
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      // Gone once the sandbox's init has reaped it (a zombie is still a process of the VM's uid).
      await until("the fake server's end", async () => {
        for (const pid of fakes) if (await readFile(`/proc/${pid}/stat`).catch(() => null)) return null;
        return true;
      });
      listener.close();
      await run(asEscapedVmUser(["mv", "--", `${sock}.real`, sock]), { allowFailure: true });
    }
  }, 60_000);

  it("check 29: UML process confinement: every process of the VM's uid, the agent's tmux clients included, is in the sandbox and its cgroup", async () => {
    const c = await TestConsole.open(h.client.openConsole(VM));
    c.type("\r");
    await c.waitFor(/login:/, 30_000);
    // The console's control client (tmux -C) lives while the console is open; a status query runs
    // one-shot clients; the power verbs' tty flush another (see tmux.ts).
    await until("the control client", async () => {
      for (const pid of await processesOfVmUser()) {
        const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
        if (cmdline.startsWith("tmux\0") && cmdline.includes("\0-C\0")) return pid;
      }
      return null;
    });
    await h.client.call("vm.status", { name: VM });
    const mnt = await ns(umlPid, "mnt");
    const pidNs = await ns(umlPid, "pid");
    const group = (await readFile(`/proc/${umlPid}/cgroup`, "utf8")).trim();
    const outside: string[] = [];
    const pids = await processesOfVmUser();
    for (const pid of pids) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replaceAll("\0", " ");
      const inside =
        (await ns(pid, "mnt").catch(() => mnt)) === mnt &&
        (await ns(pid, "pid").catch(() => pidNs)) === pidNs &&
        (await readFile(`/proc/${pid}/cgroup`, "utf8").catch(() => group)).trim() === group;
      if (!inside) outside.push(`${pid} ${cmdline.slice(0, 80)}`);
    }
    c.close();
    expect(pids.length).toBeGreaterThan(3);
    expect(outside, `outside the sandbox: ${outside.join("; ")}`).toEqual([]);
  }, 60_000);

  it("check 29: UML process confinement: a link the VM's user puts at its mconsole socket does not make the agent halt another VM", async () => {
    // The VM's user (after a guest escape) swaps its mconsole socket for a link to VM B's. The
    // agent's uml_mconsole for A must resolve that path where only A's own files are: before, root
    // resolved it on the host, and A's clean shut down sent `sysrq e` and `halt` to B.
    const created = await h.client.run("vm.create", {
      name: VM_B,
      owner: "carol",
      image: h.image,
      memoryMiB: 64,
      storageGiB: 1,
      swapMiB: 0,
    });
    expect(created.state).toBe("succeeded");
    expect((await h.client.run("vm.start", { name: VM_B })).state).toBe("succeeded");
    const bPid = (await h.client.call("vm.status", { name: VM_B })).pid;
    const mine = join(runDir, VM, "mconsole");
    await run(asEscapedVmUser(["mv", "--", mine, `${mine}.real`]));
    await run(
      asEscapedVmUser(["ln", "-s", "--", join(h.dataDir, "vms", VM_B, "run", VM_B, "mconsole"), mine]),
    );
    await h.client.run("vm.shutdown", { name: VM });
    const b = await h.client.call("vm.status", { name: VM_B });
    expect(b.state).toBe("running");
    expect(b.pid).toBe(bPid);
  }, 120_000);

  it("powers off and destroys the confined VMs", async () => {
    for (const name of [VM, VM_B]) {
      const status = await h.client.call("vm.status", { name });
      if (status.state === "running")
        expect((await h.client.run("vm.poweroff", { name })).state).toBe("succeeded");
      const destroyed = await h.client.run("vm.destroy", { name, confirm: name });
      expect(destroyed.state).toBe("succeeded");
    }
  }, 120_000);
});
