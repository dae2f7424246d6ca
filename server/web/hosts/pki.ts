/**
 * The panel's certificate authority (issue 13 point 2): agents on other hosts and web instances
 * talk over mutual TLS with certificates this CA issued. The web tier starts no process (security
 * check 24), so the X.509 work is @peculiar/x509 over Node's WebCrypto; keys are EC P-256.
 *
 *   const ca = await createCa();
 *   const cert = await signCsr(ca, { csrPem, role: "host", name: "host-two", address: "10.0.0.2" });
 *   const crl = await makeCrl(ca, [{ serial, revokedAt }], 1);
 */
// tsyringe (under @peculiar/x509) needs the Reflect metadata API loaded first.
import "reflect-metadata";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
} from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** host: an agent's server certificate; web: a web instance's (or the CLI's) client certificate. */
export type CertRole = "host" | "web";

export class PkiError extends Error {
  override name = "PkiError";
}

const subtle = globalThis.crypto.subtle;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
x509.cryptoProvider.set(globalThis.crypto);

export function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** The WebCrypto pair of a PEM private key (its public half derived by Node). */
async function keysOf(keyPem: string): Promise<CryptoKeyPair> {
  const privateDer = createPrivateKey(keyPem).export({ type: "pkcs8", format: "der" });
  const publicDer = createPublicKey(keyPem).export({ type: "spki", format: "der" });
  return {
    privateKey: await subtle.importKey("pkcs8", privateDer, EC, true, ["sign"]),
    publicKey: await subtle.importKey("spki", publicDer, EC, true, ["verify"]),
  };
}

/** A random 128-bit serial as upper-case hex (what X509Certificate and OpenSSL print). */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10; // positive, 16 bytes: no leading-zero trimming
  return bytes.toString("hex").toUpperCase();
}

/** "SHA256:AB:CD:…", the CA fingerprint `host add` prints and the agent pins. */
export function fingerprint(certPem: string): string {
  return `SHA256:${new X509Certificate(certPem).fingerprint256}`;
}

const DAY = 86_400_000;

export async function createCa(commonName = "zaphod panel CA"): Promise<CaMaterial> {
  const keyPem = newKeyPem();
  const keys = await keysOf(keyPem);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3650 * DAY),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem };
}

/** A certificate request for `keyPem` (its subject is replaced when signed). */
export async function makeCsr(keyPem: string, commonName: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys: await keysOf(keyPem),
    signingAlgorithm: SIGNING,
  });
  return csr.toString("pem");
}

/** Host names are the panel's slugs; a web instance's subject is web:<id>. */
export function subjectFor(role: CertRole, name: string): string {
  return role === "host" ? `host:${name}` : `web:${name}`;
}

export interface SignRequest {
  csrPem: string;
  role: CertRole;
  /** The host's name (role host) or the web instance's id (role web). */
  name: string;
  /** role host: the address the panel dials, put in the certificate's subjectAltName. */
  address?: string;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
}

/**
 * Signs the request's key (its signature checked: the requester holds the key) as `role`: the
 * subject and every extension are the panel's, nothing is copied from the request.
 */
export async function signCsr(
  ca: CaMaterial,
  request: SignRequest,
): Promise<{ certPem: string; serial: string }> {
  if (request.csrPem.length > 8192) throw new PkiError("certificate request too large");
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(request.name)) throw new PkiError("bad certificate name");
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(request.csrPem);
  } catch {
    throw new PkiError("not a PEM certificate request");
  }
  if (!(await csr.verify())) throw new PkiError("the certificate request's signature does not verify");
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKeys = await keysOf(ca.keyPem);
  const serial = request.serial ?? newSerial();
  const names: x509.JsonGeneralName[] = [{ type: "dns", value: request.name }];
  if (request.role === "host" && request.address)
    names.push(
      isIP(request.address)
        ? { type: "ip", value: request.address }
        : { type: "dns", value: request.address },
    );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${subjectFor(request.role, request.name)}`,
    issuer: caCert.subject,
    notBefore: request.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: request.notAfter ?? new Date(Date.now() + (request.role === "host" ? 825 : 30) * DAY),
    signingKey: caKeys.privateKey,
    publicKey: csr.publicKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(
        [request.role === "host" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false),
    ],
  });
  const certPem = cert.toString("pem");
  return { certPem, serial: new X509Certificate(certPem).serialNumber.toUpperCase() };
}

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  notAfter?: Date;
}

/** DER of a non-negative INTEGER (the CRL number's extension value). */
function derInteger(n: number): ArrayBuffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  const der = Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.length) as ArrayBuffer;
}

/** A CRL signed by the CA listing `revoked`, numbered `number` (agents keep the highest). */
export async function makeCrl(ca: CaMaterial, revoked: RevokedEntry[], number: number): Promise<string> {
  for (const r of revoked)
    if (!/^[0-9A-F]{2,40}$/.test(r.serial)) throw new PkiError(`bad serial ${r.serial}`);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKeys = await keysOf(ca.keyPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 3650 * DAY),
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.revokedAt })),
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.Extension("2.5.29.20", false, derInteger(number)),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false),
    ],
  });
  // OpenSSL (and so Node's TLS) reads CRLs under the PEM label "X509 CRL" only.
  const base64 = Buffer.from(crl.rawData).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN X509 CRL-----\n${base64.replace(/\n$/, "")}\n-----END X509 CRL-----\n`;
}
