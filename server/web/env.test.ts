import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EnvError, parseEnv } from "./env";

const secret = "s".repeat(40);

describe("environment", () => {
  it("has working defaults for development", () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      port: 3000,
      databaseUrl: "file:./.data/zaphod.db",
      databaseProvider: "sqlite",
      origins: ["http://127.0.0.1:3000", "http://localhost:3000"],
      secureCookies: false,
      trustProxy: false,
      isProduction: false,
    });
    expect(env.authSecret.length).toBeGreaterThanOrEqual(32);
  });

  it("derives the default origins from PORT", () => {
    expect(parseEnv({ PORT: "4100" }).origins).toEqual(["http://127.0.0.1:4100", "http://localhost:4100"]);
  });

  it("requires a secret in production, from AUTH_SECRET or AUTH_SECRET_FILE", () => {
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrow(EnvError);
    expect(() => parseEnv({ NODE_ENV: "production" })).toThrow(/AUTH_SECRET: required in production/);
    expect(parseEnv({ NODE_ENV: "production", AUTH_SECRET: secret }).authSecret).toBe(secret);
    const dir = mkdtempSync(path.join(tmpdir(), "zaphod-env-"));
    const file = path.join(dir, "auth-secret");
    writeFileSync(file, `${secret}\n`);
    expect(parseEnv({ NODE_ENV: "production", AUTH_SECRET_FILE: file }).authSecret).toBe(secret);
    expect(() => parseEnv({ NODE_ENV: "production", AUTH_SECRET_FILE: path.join(dir, "missing") })).toThrow(
      /AUTH_SECRET_FILE: cannot read .*ENOENT/,
    );
    expect(() => parseEnv({ AUTH_SECRET: "short" })).toThrow(/at least 32 characters/);
  });

  it("picks PostgreSQL from the URL and rejects other schemes", () => {
    expect(parseEnv({ DATABASE_URL: "postgresql://u@h/db" }).databaseProvider).toBe("postgresql");
    expect(() => parseEnv({ DATABASE_URL: "mysql://u@h/db" })).toThrow(
      /DATABASE_URL: must start with file: or postgresql/,
    );
  });

  it("validates origins and turns on secure cookies for https", () => {
    const env = parseEnv({ ZAPHOD_ORIGINS: "https://panel.example.org" });
    expect(env.origins).toEqual(["https://panel.example.org"]);
    expect(env.secureCookies).toBe(true);
    expect(() => parseEnv({ ZAPHOD_ORIGINS: "https://panel.example.org/path" })).toThrow(/ZAPHOD_ORIGINS/);
    expect(() => parseEnv({ ZAPHOD_ORIGINS: "panel.example.org" })).toThrow(/ZAPHOD_ORIGINS/);
  });

  it("listens where ZAPHOD_LISTEN says, 127.0.0.1:PORT by default", () => {
    expect(parseEnv({ PORT: "4100" })).toMatchObject({ hostname: "127.0.0.1", port: 4100, tls: null });
    expect(parseEnv({ ZAPHOD_LISTEN: "0.0.0.0:8080" })).toMatchObject({ hostname: "0.0.0.0", port: 8080 });
    expect(parseEnv({ ZAPHOD_LISTEN: "[::]:443" })).toMatchObject({ hostname: "::", port: 443 });
    expect(parseEnv({ ZAPHOD_LISTEN: "0.0.0.0:8080" }).origins).toEqual([
      "http://127.0.0.1:8080",
      "http://localhost:8080",
    ]);
    for (const bad of ["8080", "example.org:80", "1.2.3.4:0", "1.2.3.4:99999", "[::1]"])
      expect(() => parseEnv({ ZAPHOD_LISTEN: bad })).toThrow(/ZAPHOD_LISTEN: .* is not ADDRESS:PORT/);
  });

  it("serves HTTPS from a certificate and key, with https origins and secure cookies", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "zaphod-env-"));
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    writeFileSync(cert, "CERT");
    writeFileSync(key, "KEY");
    const env = parseEnv({ ZAPHOD_LISTEN: "127.0.0.1:8443", ZAPHOD_TLS_CERT: cert, ZAPHOD_TLS_KEY: key });
    expect(env.tls?.cert.toString()).toBe("CERT");
    expect(env.origins).toEqual(["https://127.0.0.1:8443", "https://localhost:8443"]);
    expect(env.secureCookies).toBe(true);
    expect(() => parseEnv({ ZAPHOD_TLS_CERT: cert })).toThrow(/ZAPHOD_TLS_KEY: .* go together/);
    expect(() => parseEnv({ ZAPHOD_TLS_CERT: cert, ZAPHOD_TLS_KEY: path.join(dir, "nope") })).toThrow(
      /ZAPHOD_TLS_KEY: cannot read .*ENOENT/,
    );
  });

  it("reports every problem at once, with the variable name", () => {
    try {
      parseEnv({ PORT: "0", DATABASE_URL: "x" });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/PORT/);
      expect((e as Error).message).toMatch(/DATABASE_URL/);
    }
  });

  it("trusts X-Forwarded-For only when told", () => {
    expect(parseEnv({ ZAPHOD_TRUST_PROXY: "1" }).trustProxy).toBe(true);
    expect(() => parseEnv({ ZAPHOD_TRUST_PROXY: "maybe" })).toThrow(/ZAPHOD_TRUST_PROXY/);
  });
});
