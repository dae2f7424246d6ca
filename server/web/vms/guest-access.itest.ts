/**
 * Members' SSH keys and VM root passwords (issue 12 point 4) against a real database (SQLite, or
 * PostgreSQL with TEST_DATABASE_URL) and a stand-in agent that records what each VM is sent
 * (the real agent and guest: server/agent/seed.itest.ts). Real keys from ssh-keygen.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { GuestAccess } from "../../protocol/agent";
import { AgentCallError, type AgentClient } from "../agent/client";
import { setAgentForTests } from "../agent/instance";
import type { Caller } from "../dal/caller";
import { actionFailure, activeCallers } from "../testing/actors";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { addSshKey, listOwnSshKeys, removeSshKey, setVmRootPassword } from "./guest-access";

let t: TestDb;
let dir = "";
let admin: Caller;
let alice: Caller;
let bob: Caller;
const sent: { name: string; access: GuestAccess; basis?: string }[] = [];
let refuse = false;
const keys: Record<string, string> = {};

const agent = {
  call: async (
    op: string,
    args: { name: string; access: GuestAccess },
    options?: { actor?: { basis: string } },
  ) => {
    if (op !== "vm.setAccess") throw new AgentCallError("internal", "not needed", "vm.status");
    if (refuse) throw new AgentCallError("internal", "the agent is down", "vm.setAccess");
    sent.push({ name: args.name, access: args.access, basis: options?.actor?.basis });
    return {
      hostKeys: [],
      sshKeyCount: args.access.sshAuthorizedKeys.length,
      rootPasswordSet: true,
      appliesAtNextBoot: true,
    };
  },
} as unknown as AgentClient;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "zaphod-keys-"));
  for (const name of ["laptop", "phone"]) {
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      `alice@${name}`,
      "-f",
      path.join(dir, name),
    ]);
    keys[name] = readFileSync(path.join(dir, `${name}.pub`), "utf8");
  }
  t = await setupTestDb();
  setAgentForTests(agent);
  const callers = await activeCallers(t.db, [
    ["keys-admin", "admin"],
    ["alice", "member"],
    ["bob", "member"],
  ]);
  const of = (username: string) => callers[username] as Caller;
  [admin, alice, bob] = [of("keys-admin"), of("alice"), of("bob")];
  const vm = (name: string, ownerId: string) => ({
    id: randomUUID(),
    name,
    ownerId,
    image: "img",
    memoryMiB: 64,
    storageGiB: 1,
    swapMiB: 0,
  });
  await t.db.vm.createMany({
    data: [vm("alice-web", alice.id), vm("alice-mail", alice.id), vm("bob-vm", bob.id)],
  });
});

beforeEach(() => {
  sent.length = 0;
  refuse = false;
});

afterAll(async () => {
  setAgentForTests(undefined);
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a member's SSH keys", () => {
  it("a key added reaches each of the member's VMs (and no one else's), with its fingerprint; audited", async () => {
    const row = await addSshKey(alice, { label: "laptop", publicKey: keys.laptop ?? "" });
    const want = execFileSync("ssh-keygen", ["-lf", path.join(dir, "laptop.pub")], {
      encoding: "utf8",
    }).split(" ")[1];
    expect(row.fingerprint).toBe(want);
    expect(sent.map((s) => s.name).sort()).toEqual(["alice-mail", "alice-web"]);
    expect(sent[0]?.access.sshAuthorizedKeys).toEqual([keys.laptop?.trim()]);
    expect(sent[0]?.basis).toBe("owner");
    expect((await listOwnSshKeys(alice)).map((k) => k.label)).toEqual(["laptop"]);
    expect(await listOwnSshKeys(bob)).toEqual([]);
    const audit = await t.db.auditEvent.findFirst({ where: { action: "account.ssh_key_add" } });
    expect(JSON.parse(audit?.detail ?? "{}")).toMatchObject({ label: "laptop", fingerprint: want });
  });

  it("the same key twice, a malformed key and a key with options are refused with the reason", async () => {
    const again = await actionFailure(addSshKey(alice, { label: "again", publicKey: keys.laptop ?? "" }));
    expect(again.fieldErrors?.publicKey).toMatch(/You have added this key already \(SHA256:/);
    const bad = await actionFailure(addSshKey(alice, { label: "bad", publicKey: "ssh-ed25519 notbase64!" }));
    expect(bad.fieldErrors?.publicKey).toMatch(/not base64/);
    const opts = await actionFailure(addSshKey(alice, { label: "x", publicKey: `no-pty ${keys.phone}` }));
    expect(opts.fieldErrors?.publicKey).toMatch(/options before the key type/);
    const label = await actionFailure(
      addSshKey(alice, { label: "evil\u202egnp", publicKey: keys.phone ?? "" }),
    );
    expect(label.fieldErrors?.label).toMatch(/letters, digits and punctuation/);
    expect(sent).toEqual([]);
    expect((await listOwnSshKeys(alice)).length).toBe(1);
  });

  it("another member cannot remove a key that is not theirs; the owner can, and the VMs are told", async () => {
    const [row] = await listOwnSshKeys(alice);
    if (!row) throw new Error("no key");
    expect((await actionFailure(removeSshKey(bob, row.id))).code).toBe("not-found");
    expect(sent).toEqual([]);
    await removeSshKey(alice, row.id);
    expect(sent.map((s) => s.access.sshAuthorizedKeys)).toEqual([[], []]);
    expect(await listOwnSshKeys(alice)).toEqual([]);
  });

  it("when the agent does not answer, the key is kept and the member is told it did not reach the host", async () => {
    refuse = true;
    const f = await actionFailure(addSshKey(alice, { label: "phone", publicKey: keys.phone ?? "" }));
    expect(f.message).toMatch(/^Saved, but alice-(web|mail)'s host did not take it/);
    expect((await listOwnSshKeys(alice)).map((k) => k.label)).toEqual(["phone"]);
  });
});

describe("a VM's root password", () => {
  it("is sent as a SHA-512 crypt hash, never in clear; the owner and an admin may set it, another member may not", async () => {
    const res = await setVmRootPassword(alice, {
      name: "alice-web",
      password: "root-password-123",
      confirm: "root-password-123",
    });
    expect(res.appliesAtNextBoot).toBe(true);
    expect(sent).toHaveLength(1);
    const hash = sent[0]?.access.rootPasswordHash ?? "";
    expect(hash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(JSON.stringify(sent)).not.toContain("root-password-123");
    const row = await t.db.vm.findUniqueOrThrow({ where: { name: "alice-web" } });
    expect(row.rootPasswordHash).toBe(hash);
    // The owner's keys go with it.
    expect(sent[0]?.access.sshAuthorizedKeys).toEqual([keys.phone?.trim()]);

    expect(
      (
        await actionFailure(
          setVmRootPassword(bob, { name: "alice-web", password: "x".repeat(12), confirm: "x".repeat(12) }),
        )
      ).code,
    ).toBe("not-found");
    sent.length = 0;
    await setVmRootPassword(admin, {
      name: "alice-web",
      password: "rescue-password-1",
      confirm: "rescue-password-1",
    });
    expect(sent[0]?.basis).toBe("admin");
    const audits = await t.db.auditEvent.findMany({ where: { action: "vm.root_password" } });
    expect(audits.map((a) => a.actorId)).toEqual([alice.id, admin.id]);
    expect(JSON.stringify(audits)).not.toContain("password-1");
  });
});
