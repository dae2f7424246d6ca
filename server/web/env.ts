/**
 * The web tier's environment, read once and validated (zod). Every other module asks `getEnv()`;
 * nothing else reads process.env for configuration.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";

const bool = z
  .enum(["1", "0", "true", "false", "yes", "no", ""])
  .optional()
  .transform((v) => v === "1" || v === "true" || v === "yes");

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    /** Where the panel listens: `ADDRESS:PORT` (`[::]:443` for IPv6); default 127.0.0.1:$PORT. */
    ZAPHOD_LISTEN: z.string().optional(),
    /** HTTPS in the custom server: a PEM certificate (chain) and its key; both or neither. */
    ZAPHOD_TLS_CERT: z.string().optional(),
    ZAPHOD_TLS_KEY: z.string().optional(),
    DATABASE_URL: z
      .string()
      .default("file:./.data/zaphod.db")
      .refine((u) => /^(file:|postgres(ql)?:\/\/)/.test(u), "must start with file: or postgresql://"),
    AUTH_SECRET: z.string().optional(),
    AUTH_SECRET_FILE: z.string().optional(),
    ZAPHOD_ORIGINS: z.string().optional(),
    /** Set when a reverse proxy in front of us sets X-Forwarded-For; otherwise the header is ignored. */
    ZAPHOD_TRUST_PROXY: bool,
    ZAPHOD_AGENT_SOCKET: z.string().default("/run/zaphod/agent.sock"),
    /** Reboot: how long the graceful way (Ctrl-Alt-Del) may take before the hard-reset countdown. */
    ZAPHOD_REBOOT_GRACE_SECONDS: z.coerce.number().int().min(1).max(3600).default(90),
    /** Reboot: the countdown shown before the hard reset (with a "Hard reset now" button). */
    ZAPHOD_REBOOT_COUNTDOWN_SECONDS: z.coerce.number().int().min(0).max(3600).default(30),
    /** The web tier's own log file, size-capped and rotated (server/agent/log-file.ts); unset: stdout. */
    ZAPHOD_LOG_FILE: z.string().min(1).max(200).optional(),
    ZAPHOD_LOG_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    ZAPHOD_LOG_KEEP: z.coerce.number().int().min(1).max(50).default(5),
  })
  .transform((raw, ctx) => {
    let secret = raw.AUTH_SECRET?.trim();
    if (!secret && raw.AUTH_SECRET_FILE) {
      try {
        secret = readFileSync(raw.AUTH_SECRET_FILE, "utf8").trim();
      } catch (e) {
        ctx.addIssue({
          code: "custom",
          path: ["AUTH_SECRET_FILE"],
          message: `cannot read ${raw.AUTH_SECRET_FILE}: ${(e as NodeJS.ErrnoException).code ?? e}`,
        });
        return z.NEVER;
      }
    }
    if (!secret) {
      if (raw.NODE_ENV === "production") {
        ctx.addIssue({
          code: "custom",
          path: ["AUTH_SECRET"],
          message:
            "required in production (set AUTH_SECRET or AUTH_SECRET_FILE; e.g. `openssl rand -base64 32`)",
        });
        return z.NEVER;
      }
      // Development and tests only: a fixed, publicly known secret.
      secret = "zaphod-development-secret-not-for-production";
    } else if (secret.length < 32) {
      ctx.addIssue({ code: "custom", path: ["AUTH_SECRET"], message: "must be at least 32 characters" });
      return z.NEVER;
    }
    const listen = parseListen(raw.ZAPHOD_LISTEN ?? `127.0.0.1:${raw.PORT}`);
    if (!listen) {
      ctx.addIssue({
        code: "custom",
        path: ["ZAPHOD_LISTEN"],
        message: `"${raw.ZAPHOD_LISTEN}" is not ADDRESS:PORT (e.g. 127.0.0.1:3000, 0.0.0.0:443, [::]:443)`,
      });
      return z.NEVER;
    }
    let tls: { cert: Buffer; key: Buffer } | null = null;
    if (!!raw.ZAPHOD_TLS_CERT !== !!raw.ZAPHOD_TLS_KEY) {
      ctx.addIssue({
        code: "custom",
        path: [raw.ZAPHOD_TLS_CERT ? "ZAPHOD_TLS_KEY" : "ZAPHOD_TLS_CERT"],
        message: "ZAPHOD_TLS_CERT and ZAPHOD_TLS_KEY go together (a certificate and its key)",
      });
      return z.NEVER;
    }
    if (raw.ZAPHOD_TLS_CERT && raw.ZAPHOD_TLS_KEY) {
      const read = (name: "ZAPHOD_TLS_CERT" | "ZAPHOD_TLS_KEY", file: string): Buffer | null => {
        try {
          return readFileSync(file);
        } catch (e) {
          ctx.addIssue({
            code: "custom",
            path: [name],
            message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
          });
          return null;
        }
      };
      const cert = read("ZAPHOD_TLS_CERT", raw.ZAPHOD_TLS_CERT);
      const key = read("ZAPHOD_TLS_KEY", raw.ZAPHOD_TLS_KEY);
      if (!cert || !key) return z.NEVER;
      tls = { cert, key };
    }
    const scheme = tls ? "https" : "http";
    const origins = (
      raw.ZAPHOD_ORIGINS ?? `${scheme}://127.0.0.1:${listen.port},${scheme}://localhost:${listen.port}`
    )
      .split(",")
      .map((o) => o.trim())
      .filter(Boolean);
    for (const o of origins) {
      let u: URL | undefined;
      try {
        u = new URL(o);
      } catch {}
      if (!u || (u.protocol !== "http:" && u.protocol !== "https:") || u.origin !== o) {
        ctx.addIssue({
          code: "custom",
          path: ["ZAPHOD_ORIGINS"],
          message: `"${o}" is not an origin like https://panel.example.org (scheme://host[:port], no path)`,
        });
        return z.NEVER;
      }
    }
    return {
      nodeEnv: raw.NODE_ENV,
      isProduction: raw.NODE_ENV === "production",
      port: listen.port,
      /** The address the server binds (ZAPHOD_LISTEN). */
      hostname: listen.host,
      /** Certificate and key when the custom server itself speaks HTTPS. */
      tls,
      databaseUrl: raw.DATABASE_URL,
      databaseProvider: raw.DATABASE_URL.startsWith("file:") ? ("sqlite" as const) : ("postgresql" as const),
      authSecret: secret,
      origins,
      /** Cookies get the Secure flag (and the __Secure- prefix) when the panel is served over https. */
      secureCookies: origins.every((o) => o.startsWith("https:")),
      trustProxy: raw.ZAPHOD_TRUST_PROXY,
      agentSocket: raw.ZAPHOD_AGENT_SOCKET,
      rebootGraceSeconds: raw.ZAPHOD_REBOOT_GRACE_SECONDS,
      rebootCountdownSeconds: raw.ZAPHOD_REBOOT_COUNTDOWN_SECONDS,
      logFile: raw.ZAPHOD_LOG_FILE
        ? { path: raw.ZAPHOD_LOG_FILE, maxBytes: raw.ZAPHOD_LOG_MAX_BYTES, keep: raw.ZAPHOD_LOG_KEEP }
        : null,
    };
  });

/** `127.0.0.1:3000`, `0.0.0.0:443`, `[::]:443`, `[::1]:3000` → host and port; null when malformed. */
export function parseListen(value: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ?? m[2] ?? "", port };
}

export type Env = z.output<typeof schema>;

export class EnvError extends Error {}

export function parseEnv(raw: Record<string, string | undefined>): Env {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const lines = res.error.issues.map((i) => `  ${i.path.join(".") || "env"}: ${i.message}`);
  throw new EnvError(`zaphod: invalid environment\n${lines.join("\n")}`);
}

let cached: Env | undefined;
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}
