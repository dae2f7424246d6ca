/**
 * security.md check 11, its last clause: an unknown account and a wrong password get the same answer
 * in the same time (±20 %), so timing tells no one which usernames exist. Real database, real argon2
 * (the dummy hash for unknown names). The two kinds run in back-to-back pairs (which goes first
 * alternates) and the median of the pairs' ratios is compared, so that the load of a shared host
 * falls on both alike; each attempt comes from its own address for its own name, so no limit cuts in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setupTestDb, type TestDb } from "../testing/test-db";
import { authenticateCredentials } from "./authenticate-credentials";
import { unsafeCreateUser } from "./unsafe-create-user";

const ROUNDS = 40;
let t: TestDb;
const known: string[] = [];

beforeAll(async () => {
  t = await setupTestDb();
  for (let i = 0; i < ROUNDS; i++) {
    const username = `timing-${i}`;
    await unsafeCreateUser("cli", {
      username,
      email: `${username}@example.org`,
      name: "Timing",
      password: "the-right-password-1",
      role: "member",
    });
    known.push(username);
  }
});
afterAll(async () => t?.close());

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

async function timed(identifier: string, ip: string): Promise<{ ms: number; outcome: unknown }> {
  const start = performance.now();
  const outcome = await authenticateCredentials(
    { identifier, password: "a-wrong-password-1" },
    { ip, userAgent: null },
  );
  return { ms: performance.now() - start, outcome };
}

describe("sign-in timing (check 11)", () => {
  it("check 11: an unknown user and a wrong password: the same answer, in the same time (median paired ratio within ±20 %)", async () => {
    await timed("warm-up-unknown", "10.11.0.254"); // the first argon2 call pays for its setup
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Which goes first alternates too, so neither always follows the other's work.
      const unknownFirst = i % 2 === 0;
      const first = await timed(unknownFirst ? `nobody-${i}` : (known[i] as string), `10.11.1.${i}`);
      const second = await timed(unknownFirst ? (known[i] as string) : `nobody-${i}`, `10.11.2.${i}`);
      const [a, b] = unknownFirst ? [first, second] : [second, first];
      expect(a.outcome).toEqual({ ok: false, reason: "bad-credentials" });
      expect(b.outcome).toEqual(a.outcome);
      unknown.push(a.ms);
      wrong.push(b.ms);
    }
    // Paired: each round's two attempts ran back to back, so the host's load changes cancel out.
    const ratio = median(unknown.map((u, i) => u / (wrong[i] as number)));
    console.info(
      `[check 11] median ms: unknown user ${median(unknown).toFixed(1)}, wrong password ${median(wrong).toFixed(1)}, median paired ratio ${ratio.toFixed(2)}`,
    );
    expect(ratio).toBeGreaterThan(0.8);
    expect(ratio).toBeLessThan(1.2);
  }, 120_000);
});
