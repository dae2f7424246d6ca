import "server-only";
/**
 * Members manage how they get into their VMs (issue 12 point 4): SSH public keys on their
 * account (root's authorized_keys in each of their VMs) and each VM's root password (hashed here
 * with SHA-512 crypt: the password never leaves the web tier). Both reach the guest through its
 * seed disk at its next boot: after every change the web tier sends the agent what each of the
 * owner's VMs should get (`vm.setAccess`), and the VM page asks the agent whether it is applied
 * yet (`vm.access`). Each change is audited; keys are parsed as sshd reads them (ssh-keys.ts).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { VmAccessInfo } from "../../protocol/agent";
import { getAgent } from "../agent/instance";
import { sha512Crypt } from "../auth/sha512-crypt";
import { assertPermission } from "../dal/assert-permission";
import type { Actor, Caller } from "../dal/caller";
import { recordAuditEvent } from "../dal/record-audit-event";
import { getVmForCaller } from "../dal/vms";
import { getDb } from "../db/client";
import { Password } from "../domain";
import { ActionFailure } from "../errors";
import type { RequestMeta } from "../request-meta";
import { agentActor } from "./agent-actor";
import { toActionFailure } from "./agent-errors";
import { parseSshPublicKey, SshKeyError } from "./ssh-keys";

export const MAX_SSH_KEYS = 32;

export const AddSshKeyInput = z
  .object({
    label: z.string().trim().min(1, "Name the key (e.g. laptop)").max(60, "At most 60 characters"),
    publicKey: z.string().max(16_384, "That is too long for a public key"),
  })
  .strict();

export const RootPasswordInput = z
  .object({
    name: z.string().max(64),
    password: Password,
    confirm: z.string().max(256),
  })
  .strict()
  .refine((v) => v.password === v.confirm, { path: ["confirm"], message: "The two passwords differ" });

export type SshKeyRow = { id: string; label: string; type: string; fingerprint: string; createdAt: Date };

const invalid = (field: string, message: string) =>
  new ActionFailure("invalid", "Please check the highlighted fields.", { [field]: message });

export async function listOwnSshKeys(caller: Caller): Promise<SshKeyRow[]> {
  assertPermission(caller, "account.sshKeys");
  return getDb().sshKey.findMany({
    where: { userId: caller.id },
    select: { id: true, label: true, type: true, fingerprint: true, createdAt: true },
    orderBy: { createdAt: "asc" },
  });
}

export async function addSshKey(
  caller: Caller,
  input: z.output<typeof AddSshKeyInput>,
  meta?: RequestMeta,
): Promise<SshKeyRow> {
  assertPermission(caller, "account.sshKeys");
  let key: ReturnType<typeof parseSshPublicKey>;
  try {
    key = parseSshPublicKey(input.publicKey);
  } catch (error) {
    if (error instanceof SshKeyError) throw invalid("publicKey", error.message);
    throw error;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(input.label))
    throw invalid("label", "Use letters, digits and punctuation only");
  const db = getDb();
  const existing = await db.sshKey.findMany({ where: { userId: caller.id }, select: { fingerprint: true } });
  if (existing.some((k) => k.fingerprint === key.fingerprint))
    throw invalid("publicKey", `You have added this key already (${key.fingerprint})`);
  if (existing.length >= MAX_SSH_KEYS) throw invalid("publicKey", `At most ${MAX_SSH_KEYS} keys per account`);
  const row = await db.sshKey.create({
    data: {
      id: randomUUID(),
      userId: caller.id,
      label: input.label,
      type: key.type,
      publicKey: key.line,
      fingerprint: key.fingerprint,
    },
    select: { id: true, label: true, type: true, fingerprint: true, createdAt: true },
  });
  await recordAuditEvent({
    actor: caller,
    action: "account.ssh_key_add",
    result: "success",
    targetUserId: caller.id,
    meta,
    detail: { label: row.label, fingerprint: row.fingerprint },
  });
  await pushOwnersAccess(caller, caller.id);
  return row;
}

export async function removeSshKey(caller: Caller, id: string, meta?: RequestMeta): Promise<void> {
  assertPermission(caller, "account.sshKeys");
  const db = getDb();
  const row = await db.sshKey.findFirst({ where: { id, userId: caller.id } });
  if (!row) throw new ActionFailure("not-found", "No such key.");
  await db.sshKey.delete({ where: { id: row.id } });
  await recordAuditEvent({
    actor: caller,
    action: "account.ssh_key_remove",
    result: "success",
    targetUserId: caller.id,
    meta,
    detail: { label: row.label, fingerprint: row.fingerprint },
  });
  await pushOwnersAccess(caller, caller.id);
}

/** The VM's root password for its next boot: the owner, or an admin (audited; the owner sees it in the VM's history). */
export async function setVmRootPassword(
  caller: Caller,
  input: z.output<typeof RootPasswordInput>,
  meta?: RequestMeta,
): Promise<{ appliesAtNextBoot: boolean }> {
  const vm = await getVmForCaller(caller, input.name, "access");
  const hash = sha512Crypt(input.password);
  await getDb().vm.update({
    where: { id: vm.id },
    data: { rootPasswordHash: hash, rootPasswordSetAt: new Date(), accessChangedAt: new Date() },
  });
  await recordAuditEvent({
    actor: caller,
    action: "vm.root_password",
    result: "success",
    vmId: vm.id,
    targetUserId: vm.ownerId,
    meta,
    detail: { vm: vm.name },
  });
  const [info] = await pushAccess(caller, [vm.name]);
  return { appliesAtNextBoot: info?.appliesAtNextBoot ?? true };
}

/** What the agent says of the VM's guest access: host key fingerprints, applied or waiting for a boot. */
export async function vmGuestAccess(caller: Caller, name: string): Promise<VmAccessInfo | null> {
  const vm = await getVmForCaller(caller, name);
  try {
    return await getAgent().call("vm.access", { name: vm.name }, { actor: agentActor(caller, vm) });
  } catch {
    return null;
  }
}

/** Every VM of `ownerId` gets the owner's keys (and its own root password hash) at its next boot. */
async function pushOwnersAccess(caller: Caller, ownerId: string): Promise<void> {
  const vms = await getDb().vm.findMany({ where: { ownerId }, select: { name: true } });
  await getDb().vm.updateMany({ where: { ownerId }, data: { accessChangedAt: new Date() } });
  await pushAccess(
    caller,
    vms.map((v) => v.name),
  );
}

/** A new VM's guest access (its owner's keys), sent by the provisioning task before it first starts. */
export async function unsafePushVmAccess(name: string): Promise<void> {
  await pushAccess("system", [name]);
}

async function pushAccess(caller: Actor, names: string[]): Promise<VmAccessInfo[]> {
  const out: VmAccessInfo[] = [];
  for (const name of names) {
    const vm = await getDb().vm.findUnique({
      where: { name },
      select: { id: true, name: true, ownerId: true, rootPasswordHash: true },
    });
    if (!vm) continue;
    const keys = await getDb().sshKey.findMany({
      where: { userId: vm.ownerId },
      select: { publicKey: true },
      orderBy: { createdAt: "asc" },
    });
    try {
      out.push(
        await getAgent().call(
          "vm.setAccess",
          {
            name: vm.name,
            access: {
              sshAuthorizedKeys: keys.map((k) => k.publicKey),
              rootPasswordHash: vm.rootPasswordHash,
            },
          },
          { actor: agentActor(caller, vm) },
        ),
      );
    } catch (error) {
      const failure = toActionFailure(error, "vm.setAccess");
      throw new ActionFailure(
        failure.code,
        `Saved, but ${vm.name}'s host did not take it (${failure.message}); it will when you save again.`,
      );
    }
  }
  return out;
}
