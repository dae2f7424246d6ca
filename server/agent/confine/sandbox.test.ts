import { describe, expect, it } from "vitest";
import {
  ancestors,
  enterSandboxArgv,
  JOIN_CGROUPS_SCRIPT,
  parseSandboxArgv,
  type SandboxSpec,
  sandboxArgv,
  tmuxKeeperCommand,
} from "./sandbox";

const spec: SandboxSpec = {
  name: "alice",
  user: { uid: 1001, gid: 1002 },
  netns: "/run/netns/zaphod-alice",
  cgroupProcs: [
    "/sys/fs/cgroup/pids/zaphod/alice/cgroup.procs",
    "/sys/fs/cgroup/memory/zaphod/alice/cgroup.procs",
  ],
  nice: 3,
  writable: ["/var/lib/zaphod/vms/alice/disk", "/var/lib/zaphod/vms/alice/run"],
  readOnly: ["/var/lib/zaphod/images/busybox-1.ext4", "/var/lib/zaphod/lib/initramfs.cpio"],
  ram: { dir: "/var/lib/zaphod/vms/alice/ram", bytes: 80 * 1024 * 1024 },
  hostfsRoot: "/var/lib/zaphod/vms/alice/hostfs-empty",
  env: { HOME: "/var/lib/zaphod/vms/alice/run" },
  cwd: "/var/lib/zaphod/vms/alice/run",
};

/** The value following `flag` each time it appears. */
function valuesAfter(argv: string[], flag: string, count = 1): string[][] {
  const out: string[][] = [];
  argv.forEach((arg, i) => {
    if (arg === flag) out.push(argv.slice(i + 1, i + 1 + count));
  });
  return out;
}

describe("sandboxArgv", () => {
  const argv = sandboxArgv(spec, ["tmux", "-V"]);

  it("joins the cgroups first, then the VM's netns, then bwrap, then drops to the VM's user", () => {
    expect(argv.slice(0, 6)).toEqual([
      "sh",
      "-c",
      JOIN_CGROUPS_SCRIPT,
      "zaphod-join",
      "2",
      spec.cgroupProcs[0],
    ]);
    const nsenter = argv.indexOf("nsenter");
    const bwrap = argv.indexOf("bwrap");
    const setpriv = argv.indexOf("setpriv");
    expect(argv.slice(nsenter - 3, nsenter)).toEqual(["nice", "-n", "3"]);
    expect(argv[nsenter + 1]).toBe("--net=/run/netns/zaphod-alice");
    expect(nsenter).toBeLessThan(bwrap);
    expect(bwrap).toBeLessThan(setpriv);
    expect(argv.slice(setpriv)).toEqual([
      "setpriv",
      "--reuid=1001",
      "--regid=1002",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
      "--",
      "tmux",
      "-V",
    ]);
  });

  it("unshares pid, ipc, uts and cgroup, never dies with the agent, and starts a new session", () => {
    for (const flag of [
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--unshare-cgroup-try",
      "--new-session",
    ])
      expect(argv).toContain(flag);
    expect(argv).not.toContain("--die-with-parent");
    expect(argv).not.toContain("--unshare-net"); // the agent's own netns is entered instead
    expect(sandboxArgv({ ...spec, netns: null }, ["true"])).toContain("--unshare-net");
  });

  it("binds only the VM's own paths (same path inside), the read-only files and /usr; no /etc", () => {
    expect(valuesAfter(argv, "--bind", 2)).toEqual(spec.writable.map((p) => [p, p]));
    expect(valuesAfter(argv, "--ro-bind", 2)).toEqual([
      ["/usr", "/usr"],
      ...spec.readOnly.map((p) => [p, p]),
    ]);
    expect(argv.join(" ")).not.toMatch(/ \/etc( |$)/);
    expect(argv).not.toContain("--dev-bind");
  });

  it("gives guest RAM a sized tmpfs and hostfs an empty read-only directory", () => {
    const i = argv.indexOf("--tmpfs");
    expect(argv.slice(i - 4, i + 2)).toEqual([
      "--perms",
      "1777",
      "--size",
      String(80 * 1024 * 1024),
      "--tmpfs",
      spec.ram.dir,
    ]);
    expect(valuesAfter(argv, "--dir", 1).map(([d]) => d)).toContain(spec.hostfsRoot);
  });

  it("makes every parent directory 0755 before binding", () => {
    expect(ancestors(["/a/b/c", "/a/d"])).toEqual(["/a", "/a/b"]);
    const dirs = valuesAfter(argv, "--dir", 1).map(([d]) => d);
    expect(dirs.slice(0, 4)).toEqual(["/var", "/var/lib", "/var/lib/zaphod", "/var/lib/zaphod/images"]);
  });

  it("clears the environment and sets only what it is given", () => {
    expect(argv).toContain("--clearenv");
    expect(valuesAfter(argv, "--setenv", 2)).toEqual([
      ["PATH", "/usr/sbin:/usr/bin:/sbin:/bin"],
      ["HOME", spec.env.HOME],
    ]);
  });

  it("refuses root, relative or climbing paths, and bad env names", () => {
    expect(() => sandboxArgv({ ...spec, user: { uid: 0, gid: 0 } }, ["true"])).toThrow(/never runs as root/);
    expect(() => sandboxArgv({ ...spec, writable: ["disk"] }, ["true"])).toThrow(/absolute/);
    expect(() => sandboxArgv({ ...spec, readOnly: ["/a/../etc"] }, ["true"])).toThrow(/absolute/);
    expect(() => sandboxArgv({ ...spec, env: { "A=B": "x" } }, ["true"])).toThrow(/env/);
    expect(() => sandboxArgv({ ...spec, ram: { dir: spec.ram.dir, bytes: 0 } }, ["true"])).toThrow(/tmpfs/);
  });
});

describe("tmuxKeeperCommand", () => {
  it("passes the socket and the stale umid directory as arguments, never inside the script", () => {
    const argv = tmuxKeeperCommand("/v/run/tmux.sock", "/v/run/alice", ["new-session", "-d"]);
    expect(argv.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(argv[2]).not.toContain("/v/");
    expect(argv.slice(3)).toEqual(["zaphod-keeper", "/v/run/tmux.sock", "/v/run/alice", "new-session", "-d"]);
  });
});

describe("enterSandboxArgv", () => {
  const sandbox = { init: 4242, user: spec.user, cgroupProcs: spec.cgroupProcs, nice: 3 };

  it("joins the cgroups, enters every namespace of bwrap's init with the cwd resolved inside, drops to the user", () => {
    const argv = enterSandboxArgv(sandbox, spec.cwd, ["tmux", "-S", "/v/run/tmux.sock", "kill-server"]);
    expect(argv.slice(0, 10)).toEqual([
      "sh",
      "-c",
      JOIN_CGROUPS_SCRIPT,
      "zaphod-join",
      "2",
      ...spec.cgroupProcs,
      "nice",
      "-n",
      "3",
    ]);
    const nsenter = argv.indexOf("nsenter");
    const setpriv = argv.indexOf("setpriv");
    expect(argv.slice(nsenter, setpriv)).toEqual([
      "nsenter",
      "--target=4242",
      "--mount",
      "--net",
      "--ipc",
      "--uts",
      "--pid",
      "--cgroup",
      `--wdns=${spec.cwd}`,
      "--",
    ]);
    expect(argv).not.toContain("--wd");
    expect(argv.slice(setpriv, -4)).toContain("--pdeathsig=KILL");
    expect(argv.slice(setpriv, setpriv + 8)).toContain("--no-new-privs");
    expect(argv.slice(-4)).toEqual(["tmux", "-S", "/v/run/tmux.sock", "kill-server"]);
  });

  it("refuses root, a bad pid, a relative cwd and a nice value not below the agent's", () => {
    expect(() => enterSandboxArgv({ ...sandbox, nice: 0 }, "/", ["true"])).toThrow(/nice/);
    expect(() => enterSandboxArgv({ ...sandbox, nice: -1 }, "/", ["true"])).toThrow(/nice/);
    expect(() => enterSandboxArgv({ ...sandbox, user: { uid: 0, gid: 0 } }, "/", ["true"])).toThrow(/root/);
    expect(() => enterSandboxArgv({ ...sandbox, init: 1 }, "/", ["true"])).toThrow(/pid/);
    expect(() => enterSandboxArgv(sandbox, "run", ["true"])).toThrow(/absolute/);
  });
});

describe("parseSandboxArgv", () => {
  it("reads the hostname, read-write binds and user back from bwrap's argv", () => {
    const argv = sandboxArgv(spec, ["true"]);
    expect(parseSandboxArgv(argv.slice(argv.indexOf("bwrap")))).toEqual({
      hostname: "alice",
      writable: spec.writable,
      user: spec.user,
    });
  });

  it("is null for anything else", () => {
    expect(parseSandboxArgv(["sh", "-c", "true"])).toBeNull();
    expect(parseSandboxArgv(["bwrap", "--hostname", "alice", "--", "true"])).toBeNull();
  });
});
