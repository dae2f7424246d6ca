/**
 * WebSocket endpoints by exact path, served by the custom server (server/web/main.ts) for `/ws/*`.
 * The console gateway registers `/ws/console` with `registerUpgrade("/ws/console", handler)`; each
 * handler checks Origin and authentication itself before calling `wss.handleUpgrade`.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

const upgrades = new Map<string, UpgradeHandler>();

export function registerUpgrade(path: string, handler: UpgradeHandler): void {
  if (!path.startsWith("/ws/")) throw new Error(`upgrade paths live under /ws/: ${path}`);
  if (upgrades.has(path)) throw new Error(`upgrade path already registered: ${path}`);
  upgrades.set(path, handler);
}

export function findUpgrade(path: string): UpgradeHandler | undefined {
  return upgrades.get(path);
}
