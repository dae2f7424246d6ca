// The one description of zaphod's two long-running services, the agent and the web tier, from
// which both ways of running them are made:
//   - systemd units (`node scripts/services.mjs unit agent|web`), installed by up.sh when systemd
//     is PID 1, so the panel and the autostart VMs come up at host boot;
//   - the detached start that up.sh falls back to without systemd
//     (`node scripts/services.mjs exec agent|web`: NUL-separated user, working directory,
//     environment and argv).
// scripts/services.test.ts checks that both say the same thing.
//
// The layout comes from the environment up.sh exports (see scripts/lib.sh `resolve_layout`).
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** Every path a unit names must be safe to write unquoted in a unit file and on a UML command line. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+-]*$/;

/**
 * @param {Record<string, string | undefined>} env
 */
/** `zaphod-net` for the installed state directory, `zaphod-net-<hash>` for any other. */
function netnsFor(stateDir) {
  if (stateDir === "/var/lib/zaphod") return "zaphod-net";
  return `zaphod-net-${createHash("sha256").update(stateDir).digest("hex").slice(0, 8)}`;
}

export function layoutFromEnv(env) {
  const need = (name) => {
    const v = env[name];
    if (!v) throw new Error(`services: ${name} is not set (run through scripts/up.sh)`);
    return v;
  };
  const layout = {
    node: need("ZAPHOD_NODE"),
    release: need("ZAPHOD_RELEASE_DIR"),
    stateDir: need("ZAPHOD_STATE_DIR"),
    logDir: need("ZAPHOD_LOG_DIR"),
    runDir: need("ZAPHOD_RUN_DIR"),
    agentSocket: need("ZAPHOD_AGENT_SOCKET"),
    webUser: env.ZAPHOD_WEB_USER || "zaphod",
    agentUser: env.ZAPHOD_AGENT_USER || "root",
    hostUserPrefix: env.ZAPHOD_HOST_USER_PREFIX || "",
    socketGroup: env.ZAPHOD_SOCKET_GROUP || "",
    listen: need("ZAPHOD_LISTEN"),
    origins: need("ZAPHOD_ORIGINS"),
    tlsCert: env.ZAPHOD_TLS_CERT || "",
    tlsKey: env.ZAPHOD_TLS_KEY || "",
    // The VMs' network (issue 12): by default a namespace of its own with no route out (the
    // quick start's, safe on any machine), named after the state directory so two installs do
    // not share one; `host` (the operator's choice) puts the bridge in the host's own namespace.
    // Every other ZAPHOD_NET_* setting passes through to the agent.
    netns: env.ZAPHOD_NET_NETNS || netnsFor(env.ZAPHOD_STATE_DIR || ""),
    netSettings: Object.fromEntries(
      Object.entries(env).filter(([k, v]) => k.startsWith("ZAPHOD_NET_") && k !== "ZAPHOD_NET_NETNS" && v),
    ),
  };
  // State paths reach UML's command line and the units; the release only the units (the
  // detached start of a clone in a path with spaces passes it as one argument).
  for (const key of ["stateDir", "logDir", "runDir", "agentSocket", "tlsCert", "tlsKey"]) {
    const v = layout[key];
    if (v && !SAFE_PATH.test(v))
      throw new Error(
        `services: ${key} "${v}" must be an absolute path of letters, digits and . _ / + - (no spaces)`,
      );
  }
  return layout;
}

/**
 * @param {ReturnType<typeof layoutFromEnv>} l
 * @returns {Record<"agent" | "web", {
 *   description: string; user: string; group: string; workingDirectory: string;
 *   environment: Record<string, string>; argv: string[]; log: string; logFile: string; unit: string[];
 *   after: string[];
 * }>}
 */
export function describeServices(l) {
  const webState = path.join(l.stateDir, "web");
  // Each service writes its own log, rotated and bounded (server/agent/log-file.ts): the agent in
  // the log directory (root's), the web tier in a directory of its own user's inside it. What a
  // service prints before it opens its log (or when it cannot) goes to `<name>.out`.
  const webLogs = path.join(l.logDir, "web");
  const agentEnv = {
    ZAPHOD_DATA_DIR: l.stateDir,
    ZAPHOD_LOG_FILE: path.join(l.logDir, "agent.log"),
    ZAPHOD_AGENT_SOCKET: l.agentSocket,
    ...(l.hostUserPrefix ? { ZAPHOD_HOST_USER_PREFIX: l.hostUserPrefix } : {}),
    ...(l.socketGroup ? { ZAPHOD_SOCKET_GROUP: l.socketGroup } : {}),
    // Networking needs root (bridges, taps, namespaces): an agent run as a plain user has none.
    ...(l.agentUser === "root" ? { ZAPHOD_NET_NETNS: l.netns, ...l.netSettings } : {}),
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
  const webEnv = {
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    HOME: "/nonexistent",
    PATH: "/usr/local/bin:/usr/bin:/bin",
    ZAPHOD_LISTEN: l.listen,
    ZAPHOD_ORIGINS: l.origins,
    AUTH_SECRET_FILE: path.join(webState, "auth-secret"),
    DATABASE_URL: `file:${path.join(webState, "zaphod.db")}`,
    ZAPHOD_AGENT_SOCKET: l.agentSocket,
    ZAPHOD_LOG_FILE: path.join(webLogs, "web.log"),
    ...(l.tlsCert ? { ZAPHOD_TLS_CERT: l.tlsCert, ZAPHOD_TLS_KEY: l.tlsKey } : {}),
  };
  return {
    agent: {
      description: "zaphod host agent (runs the members' UML VMs)",
      user: l.agentUser,
      group: l.agentUser,
      workingDirectory: l.release,
      environment: agentEnv,
      argv: [l.node, path.join(l.release, "dist/agent.mjs")],
      log: path.join(l.logDir, "agent.out"),
      logFile: path.join(l.logDir, "agent.log"),
      after: ["network-online.target"],
      unit: [
        // VMs are the agent's children in the cgroup sense: a restart of the unit must leave them running.
        "KillMode=process",
        "Restart=on-failure",
        "RestartSec=2",
        "TimeoutStopSec=10",
      ],
    },
    web: {
      description: "zaphod web panel",
      user: l.webUser,
      group: l.webUser,
      workingDirectory: l.release,
      environment: webEnv,
      argv: [l.node, path.join(l.release, "dist/web.mjs")],
      log: path.join(l.logDir, "web.out"),
      logFile: path.join(webLogs, "web.log"),
      after: ["zaphod-agent.service", "network-online.target"],
      unit: [
        "Restart=on-failure",
        "RestartSec=2",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        `ReadWritePaths=${webState} ${webLogs}`,
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "ProtectProc=invisible",
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "DevicePolicy=closed",
        "KeyringMode=private",
        "UMask=0077",
      ],
    },
  };
}

/** A systemd unit file for one service of the description. */
export function renderUnit(service) {
  for (const p of [service.workingDirectory, ...service.argv])
    if (!SAFE_PATH.test(p))
      throw new Error(`services: "${p}" cannot be written into a systemd unit (spaces?)`);
  const env = Object.entries(service.environment).map(([k, v]) => `Environment=${k}=${v}`);
  return [
    "# Made by zaphod's scripts/up.sh from scripts/services.mjs; edits are overwritten.",
    "[Unit]",
    `Description=${service.description}`,
    `After=${service.after.join(" ")}`,
    `Wants=network-online.target`,
    "",
    "[Service]",
    "Type=simple",
    `User=${service.user}`,
    `Group=${service.group}`,
    `WorkingDirectory=${service.workingDirectory}`,
    ...env,
    `ExecStart=${service.argv.join(" ")}`,
    `StandardOutput=append:${service.log}`,
    "StandardError=inherit",
    ...service.unit,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** What up.sh's detached start needs, NUL-separated: user, directory, KEY=VALUE…, "--", argv…, log. */
export function renderExec(service) {
  return [
    service.user,
    service.workingDirectory,
    ...Object.entries(service.environment).map(([k, v]) => `${k}=${v}`),
    "--",
    ...service.argv,
  ].join("\0");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [what, name] = process.argv.slice(2);
  try {
    const services = describeServices(layoutFromEnv(process.env));
    const service = services[name];
    if (!service || (what !== "unit" && what !== "exec" && what !== "env"))
      throw new Error("usage: node scripts/services.mjs unit|exec|env agent|web");
    if (what === "unit") process.stdout.write(renderUnit(service));
    else if (what === "exec") process.stdout.write(renderExec(service));
    // A shell-sourceable environment file for bin/zaphod (values are safe paths and origins).
    else
      process.stdout.write(
        Object.entries(service.environment)
          .filter(([k]) => k !== "ZAPHOD_LOG_FILE")
          .map(([k, v]) => `${k}='${v.replaceAll("'", "")}'\n`)
          .join(""),
      );
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
}
