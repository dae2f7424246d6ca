/**
 * The panel's certificate authority (issue 13 point 2): agents on other hosts and web instances
 * talk over mutual TLS with certificates this CA issued. The X.509 work is OpenSSL's (`openssl req`,
 * `openssl ca`, argument arrays in a private 0700 directory that is removed afterwards; no shell);
 * keys are EC P-256 made by Node.
 *
 *   const ca = await createCa();
 *   const cert = await signCsr(ca, { csrPem, role: "host", name: "h2", address: "127.0.0.2" });
 *   const crl = await makeCrl(ca, [{ serial, revokedAt }], 1);
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** host: an agent's server certificate; web: a web instance's (or the CLI's) client certificate. */
export type CertRole = "host" | "web";

export class PkiError extends Error {
  override name = "PkiError";
}

const OPENSSL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function openssl(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "openssl",
      args,
      {
        env: { PATH: OPENSSL_PATH, LANG: "C" } as unknown as NodeJS.ProcessEnv,
        timeout: 20_000,
        maxBuffer: 1 << 20,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new PkiError(`openssl ${args[0]}: ${String(stderr).trim().slice(0, 300) || error.message}`));
        else resolve(String(stdout));
      },
    );
    child.stdin?.end(input ?? "");
  });
}

async function inPrivateDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "zaphod-pki-"));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function newKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A random 128-bit serial as upper-case hex (what `openssl` and X509Certificate print). */
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive, 16 bytes: no leading-zero trimming surprises
  bytes[0] |= 0x10;
  return bytes.toString("hex").toUpperCase();
}

/** "SHA256:AB:CD:…", the CA fingerprint `host add` prints and the agent pins. */
export function fingerprint(certPem: string): string {
  return `SHA256:${new X509Certificate(certPem).fingerprint256}`;
}

export async function createCa(commonName = "zaphod panel CA"): Promise<CaMaterial> {
  const keyPem = newKeyPem();
  const certPem = await inPrivateDir(async (dir) => {
    await writeFile(join(dir, "ca.key"), keyPem, { mode: 0o600 });
    return openssl([
      "req",
      "-x509",
      "-new",
      "-key",
      join(dir, "ca.key"),
      "-sha256",
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
  });
  return { certPem, keyPem };
}

/** A certificate request for `keyPem` (its subject is replaced when signed). */
export function makeCsr(keyPem: string, commonName: string): Promise<string> {
  return inPrivateDir(async (dir) => {
    await writeFile(join(dir, "key.pem"), keyPem, { mode: 0o600 });
    return openssl(["req", "-new", "-key", join(dir, "key.pem"), "-subj", `/CN=${commonName}`]);
  });
}

const CA_CONFIG = (dir: string) => `[ ca ]
default_ca = zca
[ zca ]
database = ${dir}/index.txt
new_certs_dir = ${dir}/new
certificate = ${dir}/ca.crt
private_key = ${dir}/ca.key
serial = ${dir}/serial
crlnumber = ${dir}/crlnumber
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
`;

async function writeCaDir(dir: string, ca: CaMaterial, index = "", serial = "01", crlNumber = 1) {
  await writeFile(join(dir, "ca.crt"), ca.certPem);
  await writeFile(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  await writeFile(join(dir, "index.txt"), index);
  await writeFile(join(dir, "serial"), `${serial}\n`);
  await writeFile(join(dir, "crlnumber"), `${crlNumber.toString(16).padStart(2, "0")}\n`);
  await writeFile(join(dir, "ca.cnf"), CA_CONFIG(dir));
  await rm(join(dir, "new"), { recursive: true, force: true });
  await mkdir(join(dir, "new"), { mode: 0o700 });
}

/** OpenSSL's date form for -startdate/-enddate (YYYYMMDDHHMMSSZ). */
function caDate(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

/** The index.txt date form (UTCTime, YYMMDDHHMMSSZ). */
function indexDate(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(2, 14)}Z`;
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

export async function signCsr(
  ca: CaMaterial,
  request: SignRequest,
): Promise<{ certPem: string; serial: string }> {
  if (
    !/^-----BEGIN CERTIFICATE REQUEST-----[A-Za-z0-9+/=\r\n-]+-----END CERTIFICATE REQUEST-----\s*$/.test(
      request.csrPem,
    )
  )
    throw new PkiError("not a PEM certificate request");
  if (request.csrPem.length > 8192) throw new PkiError("certificate request too large");
  if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(request.name)) throw new PkiError("bad certificate name");
  const serial = request.serial ?? newSerial();
  const notBefore = request.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter =
    request.notAfter ?? new Date(Date.now() + (request.role === "host" ? 825 : 30) * 86_400_000);
  const sans: string[] = [`DNS:${request.name}`];
  if (request.role === "host" && request.address) {
    sans.push(isIP(request.address) ? `IP:${request.address}` : `DNS:${request.address}`);
  }
  const ext = [
    "[ x ]",
    "basicConstraints = critical,CA:FALSE",
    "keyUsage = critical,digitalSignature",
    `extendedKeyUsage = ${request.role === "host" ? "serverAuth" : "clientAuth"}`,
    `subjectAltName = ${sans.join(",")}`,
    "",
  ].join("\n");
  const certPem = await inPrivateDir(async (dir) => {
    await writeCaDir(dir, ca, "", serial);
    await writeFile(join(dir, "req.csr"), request.csrPem);
    await writeFile(join(dir, "ext.cnf"), ext);
    await openssl([
      "ca",
      "-batch",
      "-config",
      join(dir, "ca.cnf"),
      "-notext",
      "-in",
      join(dir, "req.csr"),
      "-out",
      join(dir, "cert.pem"),
      "-subj",
      `/CN=${subjectFor(request.role, request.name)}`,
      "-startdate",
      caDate(notBefore),
      "-enddate",
      caDate(notAfter),
      "-extfile",
      join(dir, "ext.cnf"),
      "-extensions",
      "x",
    ]);
    return readFile(join(dir, "cert.pem"), "utf8");
  });
  return { certPem, serial: new X509Certificate(certPem).serialNumber.toUpperCase() };
}

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
  /** The certificate's own end (index.txt wants one; any date after revokedAt does). */
  notAfter?: Date;
}

/** A CRL signed by the CA listing `revoked`, numbered `number` (agents keep the highest). */
export function makeCrl(ca: CaMaterial, revoked: RevokedEntry[], number: number): Promise<string> {
  for (const r of revoked)
    if (!/^[0-9A-F]{2,40}$/.test(r.serial)) throw new PkiError(`bad serial ${r.serial}`);
  const index = revoked
    .map(
      (r) =>
        `R\t${indexDate(r.notAfter ?? new Date(r.revokedAt.getTime() + 86_400_000 * 3650))}\t${indexDate(r.revokedAt)}\t${r.serial}\tunknown\t/CN=revoked\n`,
    )
    .join("");
  return inPrivateDir(async (dir) => {
    await writeCaDir(dir, ca, index, "01", number);
    return openssl(["ca", "-gencrl", "-config", join(dir, "ca.cnf"), "-crldays", "3650"]);
  });
}
