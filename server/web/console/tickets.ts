import { createHash, randomBytes } from "node:crypto";

/** A stored ticket: only the token's hash is kept, so a database leak yields no usable ticket. */
export interface TicketRecord {
  tokenHash: string;
  userId: string;
  vmId: string;
  expiresAt: Date;
}

export type TicketRefusal = "unknown" | "expired" | "used" | "wrong-vm";

export type ConsumeResult = { ok: true; userId: string; vmId: string } | { ok: false; reason: TicketRefusal };

export interface TicketStore {
  insert(record: TicketRecord): Promise<void>;
  /**
   * Atomically marks the ticket used if it exists, is unused and `expiresAt > now`; of two
   * concurrent calls for one hash at most one gets `ok`.
   */
  consume(tokenHash: string, now: Date): Promise<ConsumeResult>;
}

export const TICKET_TTL_MS = 30_000;

export function hashTicketToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Tokens are 32 random bytes in base64url: 43 characters of [A-Za-z0-9_-]. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface TicketServiceOptions {
  store: TicketStore;
  ttlMs?: number;
  now?: () => Date;
}

/**
 * Single-use console tickets. `issueTicket` is called by an authorized action after it checked
 * that the caller may open the VM's console; `consumeTicket` by the upgrade handler, which
 * re-checks the user and VM after it.
 */
export function createTicketService({
  store,
  ttlMs = TICKET_TTL_MS,
  now = () => new Date(),
}: TicketServiceOptions) {
  return {
    async issueTicket({
      userId,
      vmId,
    }: {
      userId: string;
      vmId: string;
    }): Promise<{ token: string; expiresAt: Date }> {
      const token = randomBytes(32).toString("base64url");
      const expiresAt = new Date(now().getTime() + ttlMs);
      await store.insert({ tokenHash: hashTicketToken(token), userId, vmId, expiresAt });
      return { token, expiresAt };
    },

    /** Burns the ticket whatever the outcome, so a ticket presented for the wrong VM is gone too. */
    async consumeTicket(token: string, expected: { vmId?: string } = {}): Promise<ConsumeResult> {
      if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: "unknown" };
      const result = await store.consume(hashTicketToken(token), now());
      if (result.ok && expected.vmId !== undefined && result.vmId !== expected.vmId) {
        return { ok: false, reason: "wrong-vm" };
      }
      return result;
    },
  };
}

export type TicketService = ReturnType<typeof createTicketService>;

/** For tests and single-process development; the real store is `PrismaTicketStore`. */
export class MemoryTicketStore implements TicketStore {
  readonly #tickets = new Map<string, TicketRecord & { usedAt: Date | null }>();

  async insert(record: TicketRecord): Promise<void> {
    if (this.#tickets.has(record.tokenHash)) throw new Error("duplicate ticket");
    this.#tickets.set(record.tokenHash, { ...record, usedAt: null });
  }

  async consume(tokenHash: string, now: Date): Promise<ConsumeResult> {
    // Synchronous from lookup to mark, so no other consume can interleave.
    const ticket = this.#tickets.get(tokenHash);
    if (!ticket) return { ok: false, reason: "unknown" };
    if (ticket.usedAt) return { ok: false, reason: "used" };
    if (ticket.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: "expired" };
    ticket.usedAt = now;
    return { ok: true, userId: ticket.userId, vmId: ticket.vmId };
  }

  /** Drops tickets that expired before `now`. */
  prune(now: Date): void {
    for (const [hash, t] of this.#tickets)
      if (t.expiresAt.getTime() <= now.getTime()) this.#tickets.delete(hash);
  }
}
