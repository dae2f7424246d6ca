// The systemd units and the detached start that up.sh falls back to come from one description:
// this checks that they say the same thing (user, directory, environment, program) and that the
// units carry the guarantees the product relies on.
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs module (up.sh runs it with node), typed by its JSDoc only
import { describeServices, layoutFromEnv, renderExec, renderUnit } from "./services.mjs";

const env = {
  ZAPHOD_NODE: "/usr/bin/node",
  ZAPHOD_RELEASE_DIR: "/opt/zaphod/current",
  ZAPHOD_STATE_DIR: "/var/lib/zaphod",
  ZAPHOD_LOG_DIR: "/var/log/zaphod",
  ZAPHOD_RUN_DIR: "/run/zaphod",
  ZAPHOD_AGENT_SOCKET: "/run/zaphod/agent.sock",
  ZAPHOD_WEB_USER: "zaphod",
  ZAPHOD_AGENT_USER: "root",
  ZAPHOD_LISTEN: "127.0.0.1:3000",
  ZAPHOD_ORIGINS: "http://127.0.0.1:3000,http://localhost:3000",
};

type Service = {
  user: string;
  workingDirectory: string;
  environment: Record<string, string>;
  argv: string[];
};

/** Reads a rendered unit back into the fields the fallback uses. */
function parseUnit(text: string) {
  const values = (key: string) =>
    text
      .split("\n")
      .filter((l) => l.startsWith(`${key}=`))
      .map((l) => l.slice(key.length + 1));
  return {
    user: values("User")[0],
    workingDirectory: values("WorkingDirectory")[0],
    environment: Object.fromEntries(
      values("Environment").map((e) => [e.split("=")[0], e.split("=").slice(1).join("=")]),
    ),
    argv: (values("ExecStart")[0] ?? "").split(" "),
    lines: text.split("\n"),
  };
}

/** Reads the NUL-separated fallback description the way scripts/lib.sh `service_exec` does. */
function parseExec(text: string) {
  const [user, workingDirectory, ...rest] = text.split("\0");
  const dash = rest.indexOf("--");
  return {
    user,
    workingDirectory,
    environment: Object.fromEntries(
      rest.slice(0, dash).map((e) => [e.split("=")[0], e.split("=").slice(1).join("=")]),
    ),
    argv: rest.slice(dash + 1),
  };
}

describe("service description", () => {
  const services = describeServices(layoutFromEnv(env)) as Record<"agent" | "web", Service>;

  for (const name of ["agent", "web"] as const) {
    it(`${name}: the unit and the detached start run the same program the same way`, () => {
      const unit = parseUnit(renderUnit(services[name]));
      const exec = parseExec(renderExec(services[name]));
      expect(unit.user).toBe(exec.user);
      expect(unit.workingDirectory).toBe(exec.workingDirectory);
      expect(unit.environment).toEqual(exec.environment);
      expect(unit.argv).toEqual(exec.argv);
      expect(exec.argv[1]).toBe(`/opt/zaphod/current/dist/${name}.mjs`);
    });
  }

  it("runs the agent as root, leaves VMs running on restart, restarts it on failure", () => {
    const unit = parseUnit(renderUnit(services.agent));
    expect(unit.user).toBe("root");
    expect(unit.lines).toContain("KillMode=process");
    expect(unit.lines).toContain("Restart=on-failure");
    expect(unit.environment).toMatchObject({
      ZAPHOD_DATA_DIR: "/var/lib/zaphod",
      ZAPHOD_AGENT_SOCKET: "/run/zaphod/agent.sock",
    });
  });

  it("puts the VMs' network in a namespace of its own unless the operator chooses the host's", () => {
    expect(services.agent.environment.ZAPHOD_NET_NETNS).toBe("zaphod-net");
    const other = describeServices(layoutFromEnv({ ...env, ZAPHOD_STATE_DIR: "/var/lib/zaphod-zq1" }));
    expect(other.agent.environment.ZAPHOD_NET_NETNS).toMatch(/^zaphod-net-[0-9a-f]{8}$/);
    const host = describeServices(
      layoutFromEnv({ ...env, ZAPHOD_NET_NETNS: "host", ZAPHOD_NET_MODE: "nat", ZAPHOD_NET_SUBNET: "" }),
    );
    expect(host.agent.environment).toMatchObject({ ZAPHOD_NET_NETNS: "host", ZAPHOD_NET_MODE: "nat" });
    expect(host.agent.environment).not.toHaveProperty("ZAPHOD_NET_SUBNET");
    expect(services.web.environment).not.toHaveProperty("ZAPHOD_NET_NETNS");
    const plain = describeServices(layoutFromEnv({ ...env, ZAPHOD_AGENT_USER: "alice" }));
    expect(plain.agent.environment).not.toHaveProperty("ZAPHOD_NET_NETNS");
  });

  it("runs the web tier unprivileged and sandboxed, writing only its state", () => {
    const unit = parseUnit(renderUnit(services.web));
    expect(unit.user).toBe("zaphod");
    for (const line of [
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "ReadWritePaths=/var/lib/zaphod/web /var/log/zaphod/web",
    ])
      expect(unit.lines).toContain(line);
    expect(unit.environment).toMatchObject({
      NODE_ENV: "production",
      DATABASE_URL: "file:/var/lib/zaphod/web/zaphod.db",
      AUTH_SECRET_FILE: "/var/lib/zaphod/web/auth-secret",
    });
    // Nothing secret is written into a unit file (they are world-readable).
    expect(renderUnit(services.web)).not.toMatch(/AUTH_SECRET=/);
  });

  it("has each service write its own rotated log, the web tier's in a directory it may write", () => {
    expect(services.agent.environment.ZAPHOD_LOG_FILE).toBe("/var/log/zaphod/agent.log");
    expect(services.web.environment.ZAPHOD_LOG_FILE).toBe("/var/log/zaphod/web/web.log");
    // What a service prints before its log is open goes elsewhere: never into the rotated file.
    for (const name of ["agent", "web"] as const)
      expect(parseUnit(renderUnit(services[name])).lines).toContain(
        `StandardOutput=append:/var/log/zaphod/${name}.out`,
      );
  });

  it("refuses paths that a unit file or UML's command line would split", () => {
    expect(() => layoutFromEnv({ ...env, ZAPHOD_STATE_DIR: "/var/lib/my zaphod" })).toThrow(
      /stateDir "\/var\/lib\/my zaphod" must be an absolute path/,
    );
    expect(() => layoutFromEnv({ ...env, ZAPHOD_NODE: undefined })).toThrow(/ZAPHOD_NODE is not set/);
  });
});

/**
 * security.md check 43 (root runs no code another user can change), the service description's
 * part: node on the root-owned release's bundled agent, no loader, no TypeScript compiler and its
 * cache (tsx keeps one in /tmp), no NODE_OPTIONS/NODE_PATH, no path in /tmp, /var/tmp or the web
 * tier's state. The installed release's ownership and modes: the quickstart (check 43).
 */
describe("root's code (check 43)", () => {
  const { agent } = describeServices(layoutFromEnv(env)) as Record<"agent" | "web", Service>;
  const unit = renderUnit(agent) as string;

  it("check 43: the root agent runs node on the release's bundled agent, with no loader, compiler cache or module path", () => {
    expect(agent.user).toBe("root");
    expect(agent.argv).toEqual(["/usr/bin/node", "/opt/zaphod/current/dist/agent.mjs"]);
    expect(agent.workingDirectory.startsWith("/opt/zaphod/")).toBe(true);
    for (const name of Object.keys(agent.environment))
      expect([
        "NODE_OPTIONS",
        "NODE_PATH",
        "NODE_EXTRA_CA_CERTS",
        "LD_PRELOAD",
        "TSX_TSCONFIG_PATH",
      ]).not.toContain(name);
    expect(unit).not.toMatch(/--(import|require|loader|experimental-loader)\b|\btsx\b/);
  });

  it("check 43: nothing the agent's unit names lies in /tmp, /var/tmp or the web tier's state", () => {
    const paths = [agent.workingDirectory, ...agent.argv, ...Object.values(agent.environment)]
      .flatMap((v) => v.split(/[\s:,=]+/))
      .filter((v) => v.startsWith("/"));
    expect(paths.length).toBeGreaterThan(3);
    expect(
      paths.filter((p) =>
        /^\/(var\/)?tmp(\/|$)|^\/dev\/shm|^\/var\/lib\/zaphod\/web(\/|$)|^\/home\//.test(p),
      ),
    ).toEqual([]);
  });
});
