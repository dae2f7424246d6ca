/**
 * The agent's mutual-TLS listener for a panel on another host (issue 13 point 2; security.md
 * checks 26 and 47), and `join`, which gives it its certificate.
 *
 *   agent join https://panel.example 7f3c…token SHA256:AB:CD:…   (once, on the new host, as root)
 *   ZAPHOD_AGENT_LISTEN=10.0.0.2:7443 agent                       (then, beside the Unix socket)
 *
 * `join` makes the agent's own key (it never leaves <tls>/agent.key, 0600), sends a certificate
 * request with the one-time token to the panel's /api/hosts/join, and keeps the answer only when
 * the panel's CA has the fingerprint `host add` printed: that CA is pinned (<tls>/ca.crt) and is
 * the only issuer the listener trusts. The listener asks every client for a certificate; TLS 1.2
 * or newer, issued by the pinned CA, in date, not on the CRL, and a web certificate (subject
 * web:…, extended key usage clientAuth) — anything else ends in the handshake, before any verb.
 * The panel sends newer CRLs with `host.trust`; connections of a certificate it revokes are closed.
 */
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFile, rename, unlink, writeFile } from "node:fs/promises";
import { createServer, type Server as HttpsServer } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import type { AgentConfig } from "./config";
import { AgentFailure } from "./errors";
import { run } from "./exec";
import { ensureDir, lstatOrNull, readSmallFileNoFollow } from "./safe-fs";

export interface TlsFiles {
  key: string;
  cert: string;
  ca: string;
  crl: string | null;
  /** The host name the panel put in the certificate (CN host:<name>). */
  hostName: string;
}

const FILES = { key: "agent.key", cert: "agent.crt", ca: "ca.crt", crl: "crl.pem" } as const;

function hostNameOf(cert: X509Certificate): string | null {
  return /^CN=host:([a-z0-9][a-z0-9.-]{0,62})$/m.exec(cert.subject)?.[1] ?? null;
}

/** The files `join` wrote; a sentence naming what is missing when the host has not joined. */
export async function loadTlsFiles(dir: string): Promise<TlsFiles> {
  const info = await lstatOrNull(dir);
  if (!info?.isDirectory())
    throw new Error(`${dir} does not exist: run \`agent join PANEL-URL TOKEN FINGERPRINT\` first`);
  if (info.uid !== (process.getuid?.() ?? info.uid) || (info.mode & 0o077) !== 0)
    throw new Error(`${dir} must be owned by the agent's user and mode 0700`);
  const read = async (name: string, optional = false) => {
    try {
      return await readSmallFileNoFollow(join(dir, name));
    } catch (error) {
      if (optional && (error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new Error(`${join(dir, name)}: ${(error as Error).message}`);
    }
  };
  const [key, cert, ca, crl] = [
    await read(FILES.key),
    await read(FILES.cert),
    await read(FILES.ca),
    await read(FILES.crl, true),
  ];
  const hostName = hostNameOf(new X509Certificate(cert as string));
  if (!hostName) throw new Error(`${join(dir, FILES.cert)} is not a host certificate from the panel`);
  return { key: key as string, cert: cert as string, ca: ca as string, crl, hostName };
}

/** The CRL's number and the serials it revokes, read by OpenSSL after checking `caPath` signed it. */
async function readCrl(pem: string, caPath: string): Promise<{ number: number; serials: Set<string> }> {
  const out = await run(["openssl", "crl", "-CAfile", caPath, "-noout", "-crlnumber", "-text"], {
    input: pem,
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (out.code !== 0 || !/verify OK/.test(out.stderr))
    throw new AgentFailure("invalid-request", "the CRL is not one the pinned CA signed");
  const number = Number.parseInt(/crlNumber=(?:0x)?([0-9A-Fa-f]+)/.exec(out.stdout)?.[1] ?? "", 16);
  if (!Number.isFinite(number)) throw new AgentFailure("invalid-request", "the CRL has no number");
  const serials = new Set(
    [...out.stdout.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((m) => (m[1] ?? "").toUpperCase()),
  );
  return { number, serials };
}

export class TlsListener {
  readonly server: HttpsServer;
  private crl: { number: number; serials: Set<string> } = { number: 0, serials: new Set() };
  /** Open connections by the serial of their client certificate (closed when it is revoked). */
  private peers = new Map<TLSSocket, string>();

  constructor(
    private config: AgentConfig,
    private files: TlsFiles,
    private log: (line: string) => void,
  ) {
    this.server = createServer(this.contextOptions());
    this.server.on("secureConnection", (socket: TLSSocket) => this.onSecure(socket));
    this.server.on("tlsClientError", (error, socket) => {
      this.log(`tls refused ${socket.remoteAddress ?? "?"}: ${error.message.slice(0, 160)}`);
    });
  }

  private contextOptions() {
    return {
      key: this.files.key,
      cert: this.files.cert,
      ca: this.files.ca,
      ...(this.files.crl ? { crl: this.files.crl } : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2" as const,
    };
  }

  private onSecure(socket: TLSSocket): void {
    const peer = socket.getPeerX509Certificate();
    const who = peer && /^CN=web:([a-z0-9][a-z0-9.-]{0,62})$/m.exec(peer.subject)?.[1];
    if (!peer || !who) {
      this.log(
        `tls refused ${socket.remoteAddress ?? "?"}: not a web certificate (${peer?.subject.replace(/\n/g, " ") ?? "none"})`,
      );
      socket.destroy();
      return;
    }
    const serial = peer.serialNumber.toUpperCase();
    if (this.crl.serials.has(serial)) {
      socket.destroy();
      return;
    }
    this.peers.set(socket, serial);
    socket.once("close", () => this.peers.delete(socket));
  }

  async start(): Promise<void> {
    if (this.files.crl) this.crl = await readCrl(this.files.crl, join(this.config.tlsDir, FILES.ca));
    const listen = this.config.listen;
    if (!listen) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(listen.port, listen.host, () => resolve());
    });
    this.log(`listening on ${listen.host}:${listen.port} (mutual TLS, host ${this.files.hostName})`);
  }

  /** host.trust: a newer CRL from the pinned CA replaces the one held, now and after restarts. */
  async updateCrl(pem: string): Promise<{ crlNumber: number; listening: boolean }> {
    const caPath = join(this.config.tlsDir, FILES.ca);
    const next = await readCrl(pem, caPath);
    if (next.number < this.crl.number)
      throw new AgentFailure(
        "invalid-request",
        `CRL ${next.number} is older than the one held (${this.crl.number})`,
      );
    if (next.number > this.crl.number) {
      const path = join(this.config.tlsDir, FILES.crl);
      await writeFile(`${path}.tmp`, pem, { mode: 0o644 });
      await rename(`${path}.tmp`, path);
      this.files = { ...this.files, crl: pem };
      this.crl = next;
      this.server.setSecureContext(this.contextOptions());
      for (const [socket, serial] of this.peers) if (next.serials.has(serial)) socket.destroy();
      this.log(`tls: CRL ${next.number} (${next.serials.size} revoked)`);
    }
    return { crlNumber: this.crl.number, listening: this.server.listening };
  }

  close(): void {
    this.server.close();
    for (const socket of this.peers.keys()) socket.destroy();
  }
}

export interface JoinRequest {
  panelUrl: string;
  token: string;
  fingerprint: string;
}

function normalizeFingerprint(text: string): string {
  return text
    .replace(/^SHA256:/i, "")
    .replace(/:/g, "")
    .toUpperCase();
}

/**
 * `agent join`: a new key and certificate request, the token to the panel, and the answer kept
 * only when its CA is the one whose fingerprint the admin was shown.
 */
export async function joinPanel(
  config: AgentConfig,
  request: JoinRequest,
  log: (line: string) => void,
): Promise<string> {
  const url = new URL("/api/hosts/join", request.panelUrl);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new Error(`${request.panelUrl} is not an http(s) URL`);
  if (!/^[A-Za-z0-9_-]{20,200}$/.test(request.token))
    throw new Error("the join token is not one `host add` prints");
  const pinned = normalizeFingerprint(request.fingerprint);
  if (!/^[0-9A-F]{64}$/.test(pinned))
    throw new Error("the fingerprint is not a SHA-256 fingerprint (SHA256:AB:CD:…)");
  await ensureDir(config.tlsDir, null, 0o700);
  const keyPath = join(config.tlsDir, `${FILES.key}.new`);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  try {
    const csr = await run(["openssl", "req", "-new", "-key", keyPath, "-subj", "/CN=join"], {
      timeoutMs: 10_000,
    });
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: request.token, csr: csr.stdout }),
      signal: AbortSignal.timeout(30_000),
    });
    // The panel answers { ok, data } or { ok: false, error: { message } } (its route wrappers).
    const reply = (await response.json().catch(() => null)) as {
      ok?: boolean;
      data?: { host?: string; certificate?: string; ca?: string; crl?: string };
      error?: { message?: string };
    } | null;
    const body = reply?.ok ? reply.data : null;
    if (!response.ok || !body?.certificate || !body.ca || !body.host)
      throw new Error(`the panel refused the join: ${reply?.error?.message ?? `HTTP ${response.status}`}`);
    const ca = new X509Certificate(body.ca);
    if (normalizeFingerprint(ca.fingerprint256) !== pinned)
      throw new Error(
        `the panel's CA has fingerprint SHA256:${ca.fingerprint256}, not the one given: not joined (is this the right panel?)`,
      );
    const cert = new X509Certificate(body.certificate);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      throw new Error("the certificate the panel sent is not from its CA");
    if (!cert.checkPrivateKey(createPrivateKey(keyPem)))
      throw new Error("the certificate the panel sent is not for this key");
    if (hostNameOf(cert) !== body.host) throw new Error("the certificate the panel sent names another host");
    await writeFile(join(config.tlsDir, FILES.ca), body.ca, { mode: 0o644 });
    await writeFile(join(config.tlsDir, FILES.cert), body.certificate, { mode: 0o644 });
    if (body.crl) await writeFile(join(config.tlsDir, FILES.crl), body.crl, { mode: 0o644 });
    else await unlink(join(config.tlsDir, FILES.crl)).catch(() => undefined);
    await rename(keyPath, join(config.tlsDir, FILES.key));
    log(
      `joined the panel at ${url.origin} as host ${body.host}; CA SHA256:${ca.fingerprint256} pinned in ${config.tlsDir}`,
    );
    return body.host;
  } finally {
    await unlink(keyPath).catch(() => undefined);
  }
}

/** The CA certificate the agent pinned (tests, `agent join` status). */
export function readPinnedCa(config: AgentConfig): Promise<string> {
  return readFile(join(config.tlsDir, FILES.ca), "utf8");
}
