import { randomUUID } from "node:crypto";
import type { ConsumeResult, TicketRecord, TicketStore } from "./tickets";

interface ConsoleTicketRow {
  userId: string;
  vmId: string;
  expiresAt: Date;
  usedAt: Date | null;
}

/**
 * The slice of the Prisma client this store uses (model `ConsoleTicket`: tokenHash unique,
 * userId, vmId, expiresAt, usedAt), so it compiles without the generated client.
 */
export interface ConsoleTicketClient {
  consoleTicket: {
    create(args: { data: TicketRecord & { id: string } }): Promise<unknown>;
    updateMany(args: {
      where: { tokenHash: string; usedAt: null; expiresAt: { gt: Date } };
      data: { usedAt: Date };
    }): Promise<{ count: number }>;
    findUnique(args: {
      where: { tokenHash: string };
      select: { userId: true; vmId: true; expiresAt: true; usedAt: true };
    }): Promise<ConsoleTicketRow | null>;
    deleteMany(args: { where: { expiresAt: { lt: Date } } }): Promise<{ count: number }>;
  };
}

const select = { userId: true, vmId: true, expiresAt: true, usedAt: true } as const;

export class PrismaTicketStore implements TicketStore {
  /** `newId`: the project's row-id generator (server/web/db/ids.ts); ids are never made by the database. */
  constructor(
    private readonly db: ConsoleTicketClient,
    private readonly newId: () => string = randomUUID,
  ) {}

  async insert(record: TicketRecord): Promise<void> {
    await this.db.consoleTicket.create({ data: { id: this.newId(), ...record } });
  }

  async consume(tokenHash: string, now: Date): Promise<ConsumeResult> {
    // One conditional UPDATE is the atomic step: of two concurrent consumes exactly one sees count 1.
    const { count } = await this.db.consoleTicket.updateMany({
      where: { tokenHash, usedAt: null, expiresAt: { gt: now } },
      data: { usedAt: now },
    });
    const row = await this.db.consoleTicket.findUnique({ where: { tokenHash }, select });
    if (count === 1 && row) return { ok: true, userId: row.userId, vmId: row.vmId };
    if (!row) return { ok: false, reason: "unknown" };
    return { ok: false, reason: row.usedAt ? "used" : "expired" };
  }

  /** Deletes tickets that expired before `before` (run now and then; used rows are harmless). */
  async prune(before: Date): Promise<number> {
    const { count } = await this.db.consoleTicket.deleteMany({ where: { expiresAt: { lt: before } } });
    return count;
  }
}
