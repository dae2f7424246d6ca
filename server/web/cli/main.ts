/**
 * Host admin CLI (bin/zaphod). Whoever can run it already controls the host and the database, so
 * it uses the DAL's `unsafe…` functions; everything it changes is audited with the actor "cli".
 *
 *   zaphod migrate
 *   zaphod create-admin <username> --email E [--name N] [--if-missing]   (password on stdin)
 *   zaphod create-user <username> --email E [--name N] [--pending] [--if-missing]   (password on stdin)
 *   zaphod list-users
 *   zaphod approve <username>
 *   zaphod reset-link <username>
 *   zaphod provision <owner> <vm-name> [--image I] [--memory MiB] [--storage GiB] [--swap MiB] [--autostart] [--no-start]
 *   zaphod demo-setup [--ssh-port P]   (stdin: the admin password, the member password, then SSH public keys for the demo member, one per line)
 *   zaphod host add <name> <address>[:<port>] [--panel URL] | host list | host remove <name> | host drain <name>
 *   zaphod vm move <vm> <host>;  zaphod image publish <image> <host> [--from <host>]
 */
import { parseArgs } from "node:util";
import { migrate } from "../../../prisma/migrate";
import { peekBus } from "../bus";
import { unsafeChangeAccountStatus } from "../dal/change-account-status";
import { unsafeIssuePasswordResetLink } from "../dal/password-reset";
import { unsafeCreateUser, unsafeFindUserByUsername, unsafeListUsers } from "../dal/unsafe-create-user";
import { getDb } from "../db/client";
import { unreachableDatabase } from "../db/reachable";
import { getEnv } from "../env";
import { ActionFailure } from "../errors";
import { leaveInstances } from "../instances";
import { cliHost, cliTransfer } from "./host-commands";
import { cliDemoSetup, cliProvision } from "./vm-commands";

const USAGE = `usage:
  zaphod migrate
  zaphod create-admin <username> --email <email> [--name <full name>] [--if-missing]   (password on stdin)
  zaphod create-user <username> --email <email> [--name <full name>] [--pending] [--if-missing]   (password on stdin)
    --if-missing: do nothing (exit 0) when the username exists, so scripts can run twice
  zaphod list-users
  zaphod approve <username>
  zaphod reset-link <username>
    prints a one-time password reset link (valid 30 minutes) to give to the member
  zaphod provision <owner> <vm-name> [--image <image>] [--memory <MiB>] [--storage <GiB>] [--swap <MiB>] [--autostart] [--no-start]
    provisions a VM through the agent (ZAPHOD_AGENT_SOCKET), starts it and waits until it is up
  zaphod demo-setup [--ssh-port P]   (stdin: admin password, member password, then the demo member's SSH public keys, one per line)
    idempotent: admin "admin", member "demo", VM "demo" from the busybox image, started; waits until up
  zaphod host add <name> <address>[:<port>] [--panel <url>]
    adds a host whose agent the panel reaches over mutual TLS (port 7443 unless given); prints a
    one-time join token (an hour) and the panel CA's fingerprint for \`agent join\` on that host
  zaphod host list
  zaphod host remove <name>
    refused while VMs live there; revokes the host's certificate
  zaphod host drain <name> [--to <host>]
    moves every VM off the host (cold: stopped VMs), listing those that cannot move and why
  zaphod vm move <vm> <host>
    moves a stopped VM to another host: its image published there, disks copied and checked, switched
  zaphod vm move-abort <vm>
    undoes a move that was cut short (the moving mark on its host, a staging copy on the others)
  zaphod image publish <image> <host> [--from <host>]
    the same image (bytes and mtime) on another host`;

const cliMeta = { ip: "", userAgent: "zaphod-cli" };

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("Password (input is echoed; prefer piping it in): ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // One line: strip the trailing newline only.
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      email: { type: "string" },
      name: { type: "string" },
      pending: { type: "boolean" },
      "if-missing": { type: "boolean" },
      image: { type: "string" },
      memory: { type: "string" },
      storage: { type: "string" },
      swap: { type: "string" },
      autostart: { type: "boolean" },
      "no-start": { type: "boolean" },
      "ssh-port": { type: "string" },
      host: { type: "string" },
      panel: { type: "string" },
      to: { type: "string" },
      from: { type: "string" },
      help: { type: "boolean" },
    },
  });
  // A database its user cannot reach (a clone in a 0700 home, say): one sentence, not a driver error.
  const unreachable = unreachableDatabase(getEnv().databaseUrl);
  if (unreachable) {
    console.error(`zaphod: ${unreachable}`);
    return 1;
  }
  switch (command) {
    case "migrate": {
      const r = await migrate(getEnv().databaseUrl, (l) => console.log(l));
      console.log(r.applied.length ? `migrated: ${r.applied.join(", ")}` : "database is up to date");
      return 0;
    }
    case "create-admin":
    case "create-user": {
      const username = positionals[0];
      if (!username || !values.email) {
        console.error(USAGE);
        return 2;
      }
      if (values["if-missing"] && (await unsafeFindUserByUsername(username))) {
        console.log(`${username} already exists; left as is`);
        return 0;
      }
      const password = await readPassword();
      const role = command === "create-admin" ? "admin" : "member";
      const { id } = await unsafeCreateUser("cli", {
        username,
        email: values.email,
        name: values.name ?? username,
        password,
        role,
        status: values.pending ? "pending" : "active",
      });
      console.log(`created ${role} ${username} (${id})`);
      return 0;
    }
    case "list-users": {
      const users = await unsafeListUsers();
      const rows = users.map((u) => [u.username, u.role, u.status, u.email, u.name]);
      const widths = [0, 1, 2, 3].map((i) =>
        Math.max(...[["USERNAME", "ROLE", "STATUS", "EMAIL"][i]!.length, ...rows.map((r) => r[i]!.length)]),
      );
      const line = (r: string[]) => r.map((c, i) => (i < 4 ? c.padEnd(widths[i]!) : c)).join("  ");
      console.log(line(["USERNAME", "ROLE", "STATUS", "EMAIL", "NAME"]));
      for (const r of rows) console.log(line(r));
      return 0;
    }
    case "approve": {
      const username = positionals[0];
      if (!username) {
        console.error(USAGE);
        return 2;
      }
      const user = await unsafeFindUserByUsername(username);
      if (!user) {
        console.error(`no such user: ${username}`);
        return 1;
      }
      await unsafeChangeAccountStatus("cli", { userId: user.id, change: "approve" }, cliMeta);
      console.log(`approved ${username}`);
      return 0;
    }
    case "reset-link": {
      const username = positionals[0];
      if (!username) {
        console.error(USAGE);
        return 2;
      }
      const user = await unsafeFindUserByUsername(username);
      if (!user) {
        console.error(`no such user: ${username}`);
        return 1;
      }
      const r = await unsafeIssuePasswordResetLink("cli", { userId: user.id }, cliMeta);
      console.log(r.link);
      console.error(
        `one-time link for ${r.username}, valid until ${r.expiresAt.toISOString()}; it is not sent anywhere, pass it on yourself`,
      );
      return 0;
    }
    case "provision": {
      const [owner, name] = positionals;
      if (!owner || !name) {
        console.error(USAGE);
        return 2;
      }
      const num = (v: string | undefined) => (v === undefined ? undefined : Number.parseInt(v, 10));
      await cliProvision(owner, name, {
        image: values.image,
        memoryMiB: num(values.memory),
        storageGiB: num(values.storage),
        swapMiB: num(values.swap),
        autostart: values.autostart ?? false,
        start: !values["no-start"],
        host: values.host,
      });
      console.log(`provisioned ${name} for ${owner}`);
      return 0;
    }
    case "demo-setup": {
      const lines = (await readPassword()).split(/\r?\n/);
      const [adminPassword, memberPassword, ...keys] = lines;
      if (!adminPassword || !memberPassword) {
        console.error(
          "zaphod demo-setup: give the admin password, then the member password, one per line on stdin",
        );
        return 2;
      }
      await cliDemoSetup(adminPassword, memberPassword, (l) => console.log(l), {
        sshKeys: keys.filter((k) => k.trim() !== ""),
        sshPort: values["ssh-port"] ? Number.parseInt(values["ssh-port"], 10) : undefined,
      });
      return 0;
    }
    case "host":
      return cliHost(positionals, { panel: values.panel, to: values.to }, USAGE);
    case "vm":
    case "image":
      return cliTransfer(command, positionals, { from: values.from }, USAGE);
    default:
      console.error(USAGE);
      return command === "help" || values.help ? 0 : 2;
  }
}

let code = 1;
try {
  code = await main(process.argv.slice(2));
} catch (e) {
  if (e instanceof ActionFailure) console.error(`zaphod: ${e.message}`);
  else if (e && typeof e === "object" && "issues" in e) {
    for (const i of (e as { issues: { path: unknown[]; message: string }[] }).issues)
      console.error(`zaphod: ${i.path.join(".") || "input"}: ${i.message}`);
  } else console.error(`zaphod: ${(e as Error).message ?? e}`);
  code = 1;
} finally {
  // Tasks this run started and did not see end are adopted by the web instances at once.
  await leaveInstances();
  await peekBus()?.flush(); // what this run told the web instances (a suspension) goes out first
  await getDb()
    .$disconnect()
    .catch(() => {});
}
process.exit(code);
