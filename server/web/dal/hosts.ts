import "server-only";
/**
 * Hosts, the certificates the panel's CA issued and the CA's row (issue 13 point 2). Unscoped
 * (`unsafe…`) where the caller is the host CLI, the join endpoint (its token is the credential) or
 * the web tier itself; `listHosts` is the admin's.
 */
import { getDb } from "../db/client";
import { assertPermission } from "./assert-permission";
import type { Caller } from "./caller";

export type HostRow = Awaited<ReturnType<typeof unsafeGetHost>> & {};

export function unsafeGetHost(name: string) {
  return getDb().host.findUnique({ where: { name } });
}

export function unsafeListHosts() {
  return getDb().host.findMany({ orderBy: { name: "asc" } });
}

export async function listHosts(caller: Caller) {
  assertPermission(caller, "host.read");
  const [hosts, counts] = await Promise.all([
    unsafeListHosts(),
    getDb().vm.groupBy({ by: ["host"], _count: { _all: true } }),
  ]);
  const vmsOn = new Map(counts.map((c) => [c.host, c._count._all]));
  return hosts.map((h) => ({ ...h, joinTokenHash: undefined, vms: vmsOn.get(h.name) ?? 0 }));
}

export async function unsafeCountVmsOnHost(name: string): Promise<number> {
  return getDb().vm.count({ where: { host: name } });
}

export async function unsafeCreateHost(row: {
  name: string;
  address: string;
  port: number;
  joinTokenHash: string;
  joinExpiresAt: Date;
}) {
  return getDb().host.create({ data: { ...row, state: "pending" } });
}

/** A fresh join token for a host that has not joined (or joins again after a new `host add`). */
export async function unsafeRenewJoinToken(name: string, joinTokenHash: string, joinExpiresAt: Date) {
  return getDb().host.update({ where: { name }, data: { joinTokenHash, joinExpiresAt, state: "pending" } });
}

export function unsafeHostByJoinToken(joinTokenHash: string, now = new Date()) {
  return getDb().host.findFirst({ where: { joinTokenHash, joinExpiresAt: { gt: now } } });
}

/**
 * Uses the token once: of two joins with the same token exactly one records its certificate
 * (one conditional UPDATE); true for that one.
 */
export async function unsafeCompleteJoin(
  name: string,
  joinTokenHash: string,
  certSerial: string,
): Promise<boolean> {
  const { count } = await getDb().host.updateMany({
    where: { name, joinTokenHash },
    data: { joinTokenHash: null, joinExpiresAt: null, state: "joined", certSerial },
  });
  return count === 1;
}

export async function unsafeDeleteHost(name: string) {
  await getDb().host.deleteMany({ where: { name } });
}

export async function unsafeRecordHealth(
  name: string,
  figures: {
    reachability: "up" | "unreachable" | "incompatible";
    lastError?: string | null;
    agentVersion?: string;
    protocolVersion?: number;
    ramMiB?: number;
    swapMiB?: number;
    diskFreeMiB?: number;
  },
) {
  await getDb().host.updateMany({ where: { name }, data: { ...figures, checkedAt: new Date() } });
}

// ── Certificates and the CA ─────────────────────────────────────────────────────────────────

export function unsafeGetCaRow() {
  return getDb().panelCa.findUnique({ where: { id: "ca" } });
}

/** Creates the CA row unless another instance did first; returns the row that won. */
export async function unsafeCreateCaRow(certPem: string, keySealed: string) {
  try {
    return await getDb().panelCa.create({ data: { id: "ca", certPem, keySealed } });
  } catch (error) {
    if ((error as { code?: unknown }).code !== "P2002") throw error;
    const row = await unsafeGetCaRow();
    if (!row) throw error;
    return row;
  }
}

export async function unsafeRecordCertificate(row: {
  serial: string;
  role: "host" | "web";
  subject: string;
  notAfter: Date;
}) {
  await getDb().issuedCertificate.create({ data: row });
}

export function unsafeGetCertificate(serial: string) {
  return getDb().issuedCertificate.findUnique({ where: { serial } });
}

export function unsafeRevokedCertificates() {
  return getDb().issuedCertificate.findMany({
    where: { revokedAt: { not: null } },
    orderBy: { revokedAt: "asc" },
  });
}

/** Revokes the certificates (not yet revoked) and takes the next CRL number; returns it. */
export async function unsafeRevokeCertificates(serials: string[]): Promise<number> {
  const db = getDb();
  return db.$transaction(async (tx) => {
    await tx.issuedCertificate.updateMany({
      where: { serial: { in: serials }, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    const ca = await tx.panelCa.update({ where: { id: "ca" }, data: { crlNumber: { increment: 1 } } });
    return ca.crlNumber;
  });
}
