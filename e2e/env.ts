/** Shared settings of the end-to-end run (also passed to the server and the CLI). */
export const E2E_PORT = Number(process.env.E2E_PORT ?? 3299);
export const BASE_URL = `http://127.0.0.1:${E2E_PORT}`;
export const DATABASE_URL = "file:./.data/e2e/zaphod.db";
export const ADMIN = { username: "admin", password: "admin-password-e2e" };
export const MEMBER = { username: "member", password: "member-password-e2e" };

export const serverEnv = {
  PORT: String(E2E_PORT),
  DATABASE_URL,
  AUTH_SECRET: "e2e-secret-0123456789abcdef0123456789abcdef",
  ZAPHOD_ORIGINS: `${BASE_URL},http://localhost:${E2E_PORT}`,
  E2E_ADMIN_PASSWORD: ADMIN.password,
  E2E_MEMBER_PASSWORD: MEMBER.password,
};

export const storageState = { admin: "e2e/.auth/admin.json", member: "e2e/.auth/member.json" };
