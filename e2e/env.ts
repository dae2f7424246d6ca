/** Shared settings of the end-to-end run (also passed to the server and the CLI). */
import { createHash } from "node:crypto";
import path from "node:path";

export const E2E_PORT = Number(process.env.E2E_PORT ?? 3299);
export const BASE_URL = `http://127.0.0.1:${E2E_PORT}`;
export const ADMIN = { username: "admin", password: "admin-password-e2e" };
export const MEMBER = { username: "member", password: "member-password-e2e" };

/**
 * Where test state that the run's host users (VMs) and postgres must reach lives: never in the
 * clone, which may sit in a 0700 home or a path with spaces. scripts/lib.sh exports the same
 * directory (`test_state_dir`); run alone, the same rule: /var/tmp/zaphod-test-<hash of the clone path>.
 */
export const TEST_STATE_DIR =
  process.env.ZAPHOD_TEST_STATE ??
  (process.getuid?.() === 0
    ? `/var/tmp/zaphod-test-${createHash("sha256").update(path.resolve(".")).digest("hex").slice(0, 12)}`
    : path.join(
        process.env.XDG_CACHE_HOME ?? path.join(process.env.HOME ?? "/tmp", ".cache"),
        `zaphod-test-${createHash("sha256").update(path.resolve(".")).digest("hex").slice(0, 12)}`,
      ));

/**
 * The production privilege split (issue 11 point 11): as root, e2e/serve.sh installs the build as a
 * root-owned release in the test state directory (scripts/lib.sh `install_release`, as up.sh does
 * into /opt/zaphod), the agent runs from it as root and the web tier and the host CLI run from it
 * as the run's own unprivileged web user (e2e/agent-stack.ts creates it, in the agent socket's
 * group). Without root everything runs as you from the clone.
 */
export const IS_ROOT = process.getuid?.() === 0;
export const RELEASE_DIR = IS_ROOT ? path.join(TEST_STATE_DIR, "e2e-release/current") : path.resolve(".");
/** The web tier's own state (its database): a 0700 directory of the web user's. */
export const WEB_STATE_DIR = path.join(TEST_STATE_DIR, "e2e-web");
export const DB_FILE = path.join(WEB_STATE_DIR, "zaphod.db");
export const DATABASE_URL = `file:${DB_FILE}`;

/** The run's own host agent (e2e/agent-stack.ts): data, socket, state for the teardown. */
export const AGENT_DATA_DIR = path.join(TEST_STATE_DIR, "e2e-agent");
export const AGENT_SOCKET = path.join(AGENT_DATA_DIR, "run/agent.sock");
export const AGENT_STATE_FILE = path.resolve(".data/e2e-agent.json");
export const E2E_IMAGE = "busybox-e2e";
/** Short, so the specs do not wait long for the reboot countdown. */
export const REBOOT_GRACE_SECONDS = 25;
export const REBOOT_COUNTDOWN_SECONDS = 8;

export const serverEnv = {
  PORT: String(E2E_PORT),
  DATABASE_URL,
  AUTH_SECRET: "e2e-secret-0123456789abcdef0123456789abcdef",
  ZAPHOD_ORIGINS: `${BASE_URL},http://localhost:${E2E_PORT}`,
  E2E_ADMIN_PASSWORD: ADMIN.password,
  E2E_MEMBER_PASSWORD: MEMBER.password,
  ZAPHOD_AGENT_SOCKET: AGENT_SOCKET,
  ZAPHOD_REBOOT_GRACE_SECONDS: String(REBOOT_GRACE_SECONDS),
  ZAPHOD_REBOOT_COUNTDOWN_SECONDS: String(REBOOT_COUNTDOWN_SECONDS),
};

export const storageState = { admin: "e2e/.auth/admin.json", member: "e2e/.auth/member.json" };
