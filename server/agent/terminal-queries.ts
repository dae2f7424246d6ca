// biome-ignore-all lint/suspicious/noControlCharactersInRegex: terminal escape sequences are what these patterns match
/**
 * Removes terminal queries (`ESC[6n` and friends) from console output, also when a query is
 * split across two chunks. tmux already answers the guest's queries; a browser terminal that saw
 * them too would type its answer into the guest's shell (uml.md §1.2).
 * Bytes are handled as latin1 strings so every byte survives unchanged.
 */
import { stripTerminalQueries } from "../protocol/console";

/** Longest tail kept back when a chunk ends inside what may still become a query. */
const MAX_PENDING = 32;

export class QueryStripper {
  private pending = "";

  /** Returns the bytes safe to forward now; an unfinished escape sequence is kept for later. */
  push(chunk: Uint8Array): Buffer {
    let text =
      this.pending + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("latin1");
    this.pending = "";
    const lastEsc = text.lastIndexOf("\x1b");
    if (lastEsc >= 0 && text.length - lastEsc < MAX_PENDING && isUnfinishedEscape(text.slice(lastEsc))) {
      this.pending = text.slice(lastEsc);
      text = text.slice(0, lastEsc);
    }
    return Buffer.from(stripTerminalQueries(text), "latin1");
  }

  /** Whatever is held back (at replay end or on close). */
  flush(): Buffer {
    const out = Buffer.from(stripTerminalQueries(this.pending), "latin1");
    this.pending = "";
    return out;
  }
}

function isUnfinishedEscape(seq: string): boolean {
  if (seq.length === 1) return true;
  const second = seq[1];
  if (second === "[") return !/^\x1b\[[0-9;?>]*[ -/]*[@-~]/.test(seq);
  if (second === "]") return !/\x07|\x1b\\/.test(seq.slice(2));
  if (second === "P") return !seq.includes("\x1b\\", 2);
  return false;
}

/** One-shot version for replayed scrollback. */
export function stripQueriesFromBytes(bytes: Uint8Array): Buffer {
  return Buffer.from(stripTerminalQueries(Buffer.from(bytes).toString("latin1")), "latin1");
}
