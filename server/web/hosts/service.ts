import "server-only";
/**
 * Several hosts (issue 13 point 2): the panel's CA, joining a host, removing one, this web
 * instance's client certificate and the CRL the agents hold.
 *
 *   const { token, fingerprint } = await addHost({ name: "h2", address: "10.0.0.2", port: 7443 });
 *   // on h2, as root:  agent join https://panel TOKEN FINGERPRINT
 *   await joinHost({ token, csr })          // the join endpoint: the token is the credential
 *   await removeHost("h2")                  // refused while VMs live there; revokes its certificate
 *
 * The CA's key is sealed in the database with a key derived from AUTH_SECRET (AES-256-GCM), so
 * every web instance issues its own client certificate without a shared file, and a copy of the
 * database alone issues nothing.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  X509Certificate,
} from "node:crypto";
import { HostName } from "../../protocol/names";
import {
  unsafeCompleteJoin,
  unsafeCountVmsOnHost,
  unsafeCreateCaRow,
  unsafeCreateHost,
  unsafeDeleteHost,
  unsafeGetCaRow,
  unsafeGetHost,
  unsafeHostByJoinToken,
  unsafeRecordCertificate,
  unsafeRenewJoinToken,
  unsafeRevokeCertificates,
  unsafeRevokedCertificates,
} from "../dal/hosts";
import { getEnv } from "../env";
import { instanceId } from "../instances";
import { type CaMaterial, createCa, fingerprint, makeCrl, makeCsr, newKeyPem, signCsr } from "./pki";

export const JOIN_TOKEN_TTL_MS = 60 * 60_000;
/** The port an agent listens on for the panel unless `host add` names another. */
export const DEFAULT_AGENT_PORT = 7443;

export class HostError extends Error {
  override name = "HostError";
}

function sealKey(): Buffer {
  return Buffer.from(hkdfSync("sha256", getEnv().authSecret, "zaphod-panel-ca", "ca-key v1", 32));
}

function seal(text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealKey(), iv);
  const body = Buffer.concat([cipher.update(text, "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")].join(
    ".",
  );
}

function unseal(sealed: string): string {
  const [v, iv, tag, body] = sealed.split(".");
  if (v !== "v1" || !iv || !tag || !body) throw new HostError("the panel CA's key is in an unknown format");
  const decipher = createDecipheriv("aes-256-gcm", sealKey(), Buffer.from(iv, "base64"));
  decipher.setAuthTag(Buffer.from(tag, "base64"));
  try {
    return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new HostError(
      "the panel CA's key does not open with this AUTH_SECRET (every web instance needs the same one)",
    );
  }
}

type Cache = {
  ca?: Promise<CaMaterial>;
  identity?: Promise<WebIdentity>;
  crl?: { number: number; pem: string };
};
const cacheKey = Symbol.for("zaphod.hosts");
function cache(): Cache {
  const scope = globalThis as typeof globalThis & { [cacheKey]?: Cache };
  scope[cacheKey] ??= {};
  return scope[cacheKey];
}

/** The panel's CA, made on first use (of two instances making it at once, one row wins). */
export function panelCa(): Promise<CaMaterial> {
  const c = cache();
  c.ca ??= (async () => {
    const row =
      (await unsafeGetCaRow()) ??
      (await (async () => {
        const made = await createCa();
        return unsafeCreateCaRow(made.certPem, seal(made.keyPem));
      })());
    return { certPem: row.certPem, keyPem: unseal(row.keySealed) };
  })().catch((error) => {
    c.ca = undefined;
    throw error;
  });
  return c.ca;
}

export async function caFingerprint(): Promise<string> {
  return fingerprint((await panelCa()).certPem);
}

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

/**
 * `host add NAME ADDRESS[:PORT]`: the host's row (pending) and a one-time join token (an hour,
 * stored as SHA-256); again for a pending host gives a new token.
 */
export async function addHost(input: { name: string; address: string; port?: number }) {
  if (!HostName.safeParse(input.name).success || input.name === "local")
    throw new HostError(
      `"${input.name}" is not a host name: 3-32 lowercase letters, digits and dashes, not "local"`,
    );
  if (
    !/^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]{2,39}|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)$/.test(input.address)
  )
    throw new HostError(`"${input.address}" is not an address or a DNS name`);
  const port = input.port ?? DEFAULT_AGENT_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new HostError(`port ${port} is not 1-65535`);
  const token = randomBytes(24).toString("base64url");
  const expires = new Date(Date.now() + JOIN_TOKEN_TTL_MS);
  const existing = await unsafeGetHost(input.name);
  if (existing && existing.state !== "pending")
    throw new HostError(`host ${input.name} has joined already (remove it first to join it again)`);
  if (existing) await unsafeRenewJoinToken(input.name, hashToken(token), expires);
  else await unsafeCreateHost({ ...input, port, joinTokenHash: hashToken(token), joinExpiresAt: expires });
  return {
    name: input.name,
    address: input.address,
    port,
    token,
    expiresAt: expires,
    fingerprint: await caFingerprint(),
  };
}

/**
 * The join endpoint: a valid token's host gets a certificate for the key of `csr` (subject
 * host:<name>, its address in subjectAltName, serverAuth only), the CA and the current CRL.
 */
export async function joinHost(input: { token: string; csr: string }) {
  if (typeof input.token !== "string" || !/^[A-Za-z0-9_-]{20,200}$/.test(input.token))
    throw new HostError("this join token is not valid (expired, used, or never issued)");
  const hash = hashToken(input.token);
  const host = await unsafeHostByJoinToken(hash);
  if (!host) throw new HostError("this join token is not valid (expired, used, or never issued)");
  const ca = await panelCa();
  const { certPem, serial } = await signCsr(ca, {
    csrPem: String(input.csr ?? ""),
    role: "host",
    name: host.name,
    address: host.address,
  });
  const notAfter = new Date(new X509Certificate(certPem).validTo);
  await unsafeRecordCertificate({ serial, role: "host", subject: host.name, notAfter });
  if (!(await unsafeCompleteJoin(host.name, hash, serial))) {
    await unsafeRevokeCertificates([serial]);
    throw new HostError("this join token is not valid (expired, used, or never issued)");
  }
  return { host: host.name, certificate: certPem, ca: ca.certPem, crl: (await currentCrl()).pem };
}

/** `host remove NAME`: refused while VMs live there; its certificate is revoked. */
export async function removeHost(name: string): Promise<{ revoked: string | null }> {
  const host = await unsafeGetHost(name);
  if (!host) throw new HostError(`no host ${name}`);
  const vms = await unsafeCountVmsOnHost(name);
  if (vms > 0)
    throw new HostError(
      `host ${name} still has ${vms} VM${vms === 1 ? "" : "s"}: move or destroy them first`,
    );
  if (host.certSerial) await revokeCertificates([host.certSerial]);
  await unsafeDeleteHost(name);
  return { revoked: host.certSerial };
}

/** Revokes certificates; the next CRL goes to every agent the next time this panel reaches it. */
export async function revokeCertificates(serials: string[]): Promise<number> {
  await panelCa();
  const number = await unsafeRevokeCertificates(serials);
  cache().crl = undefined;
  return number;
}

/** The CA's current CRL (every revoked certificate), made again when its number changes. */
export async function currentCrl(): Promise<{ number: number; pem: string }> {
  const ca = await panelCa();
  const row = await unsafeGetCaRow();
  const number = row?.crlNumber ?? 1;
  const c = cache();
  if (c.crl?.number === number) return c.crl;
  const revoked = await unsafeRevokedCertificates();
  const pem = await makeCrl(
    ca,
    revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt ?? new Date(), notAfter: r.notAfter })),
    number,
  );
  c.crl = { number, pem };
  return c.crl;
}

export interface WebIdentity {
  key: string;
  cert: string;
  serial: string;
  notAfter: Date;
  ca: string;
}

/** A subject for this instance's certificate: web:<its id, in the certificate's alphabet>. */
function certName(): string {
  return (
    instanceId()
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, "-")
      .replace(/^-+/, "")
      .slice(0, 60) || "web"
  );
}

/**
 * This web instance's client certificate for the agents (30 days, made again a week before it
 * ends); its key never leaves the process.
 */
export function webIdentity(): Promise<WebIdentity> {
  const c = cache();
  const make = async (): Promise<WebIdentity> => {
    const ca = await panelCa();
    const key = newKeyPem();
    const { certPem, serial } = await signCsr(ca, {
      csrPem: await makeCsr(key, "web"),
      role: "web",
      name: certName(),
    });
    const notAfter = new Date(new X509Certificate(certPem).validTo);
    await unsafeRecordCertificate({ serial, role: "web", subject: certName(), notAfter });
    return { key, cert: certPem, serial, notAfter, ca: ca.certPem };
  };
  const current = c.identity;
  c.identity = (async () => {
    const held = current ? await current.catch(() => null) : null;
    if (held && held.notAfter.getTime() - Date.now() > 7 * 86_400_000) return held;
    return make();
  })().catch((error) => {
    c.identity = undefined;
    throw error;
  });
  return c.identity;
}

/** Tests: forget the cached CA, CRL and identity (a new database). */
export function resetHostsCacheForTests(): void {
  const c = cache();
  c.ca = undefined;
  c.identity = undefined;
  c.crl = undefined;
}
