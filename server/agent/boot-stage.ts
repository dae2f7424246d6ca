// biome-ignore-all lint/suspicious/noControlCharactersInRegex: terminal escape sequences are what these patterns match
/** Reads the boot stage from the tail of the console: the last prompt-like thing printed wins. */
import type { BootStage } from "../protocol/agent";

const WAITING: Array<[RegExp, string]> = [
  [/Give root password for maintenance/i, "maintenance prompt"],
  [/Press Enter for maintenance/i, "maintenance prompt"],
  [/You are in emergency mode/i, "emergency shell"],
  [/emergency mode/i, "emergency shell"],
  [/UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY/i, "fsck prompt"],
  [/\bfsck\b.*\bfailed\b|Fix\?\s*(\(y\/n\)|\[y\/n\]|yes)?\s*$/im, "fsck prompt"],
  [/Kernel panic - not syncing/i, "kernel panic"],
  [/\(initramfs\)\s*$/m, "initramfs shell"],
];

const UP: RegExp[] = [/\blogin:\s*$/, /\bPassword:\s*$/];

const ESCAPES =
  /\x1b\[[0-9;?>]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78DEHMc]/g;

export function plainText(raw: string): string {
  return raw
    .replace(ESCAPES, "")
    .replace(/\r/g, "")
    .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

export interface StageReading {
  stage: BootStage;
  detail: string | null;
}

/**
 * `waiting-at-console` if a maintenance/emergency/fsck/panic prompt is the last prompt-like text
 * of the console; `up` at a login prompt (or a shell after one); `booting` otherwise.
 */
export function detectBootStage(tailRaw: string): StageReading {
  const text = plainText(tailRaw);
  let waitingAt = -1;
  let waitingDetail: string | null = null;
  for (const [pattern, detail] of WAITING) {
    const global = new RegExp(
      pattern.source,
      pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`,
    );
    for (const match of text.matchAll(global)) {
      if (match.index !== undefined && match.index > waitingAt) {
        waitingAt = match.index;
        waitingDetail = detail;
      }
    }
  }
  let upAt = -1;
  for (const match of text.matchAll(/\blogin:/g)) upAt = Math.max(upAt, match.index ?? -1);
  if (waitingAt >= 0 && waitingAt > upAt) return { stage: "waiting-at-console", detail: waitingDetail };
  if (upAt >= 0) return { stage: "up", detail: "login prompt" };
  const lastLine = text.split("\n").pop() ?? "";
  if (UP.some((pattern) => pattern.test(lastLine))) return { stage: "up", detail: "login prompt" };
  // A shell prompt (after a login that scrolled out of the tail) with no rescue prompt before it.
  if (waitingAt < 0 && /[#$] $/.test(lastLine)) return { stage: "up", detail: "shell" };
  return { stage: "booting", detail: null };
}
