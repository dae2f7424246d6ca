/**
 * Password hashing: argon2id at OWASP's minimum (m=19456 KiB, t=2, p=1).
 */
import { hash, verify } from "@node-rs/argon2";

export const ARGON2_PARAMS = {
  algorithm: 2 /* Argon2id */,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;
const PHC_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_PARAMS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** True when a stored hash is not at the current policy and should be replaced after a good sign-in. */
export function needsRehash(passwordHash: string): boolean {
  return !passwordHash.startsWith(PHC_PREFIX);
}

let dummy: Promise<string> | undefined;
/** Spend the same time as a real check when the account does not exist (no user enumeration by timing). */
export async function verifyDummyPassword(password: string): Promise<false> {
  dummy ??= hashPassword("zaphod-dummy-password-for-timing");
  await verifyPassword(await dummy, password);
  return false;
}
