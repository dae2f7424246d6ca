/** Bytes sent by the on-screen keys (for phones, which have no Esc, Ctrl, Tab or arrows). */
export const ON_SCREEN_KEYS = {
  escape: "\x1b",
  tab: "\t",
  ctrlC: "\x03",
} as const;

export type ArrowKey = "up" | "down" | "right" | "left";

const arrowLetters: Record<ArrowKey, string> = { up: "A", down: "B", right: "C", left: "D" };

/** Arrows follow the terminal's cursor-key mode (DECCKM), as a real keyboard would: vi uses it. */
export function arrowKey(key: ArrowKey, applicationCursorKeys: boolean): string {
  return `${applicationCursorKeys ? "\x1bO" : "\x1b["}${arrowLetters[key]}`;
}

/**
 * The sticky on-screen Ctrl applied to the next typed character: `c` → ^C (0x03), `[` → Esc,
 * `?` → DEL. Returns null when Ctrl does not combine with the input (the input then goes as is).
 */
export function applyCtrl(data: string): string | null {
  if (data.length !== 1) return null;
  const code = data.charCodeAt(0);
  if (data === "?") return "\x7f";
  if (data === " ") return "\x00";
  if (code >= 0x40 && code <= 0x5f) return String.fromCharCode(code & 0x1f); // @ A–Z [ \ ] ^ _
  if (code >= 0x61 && code <= 0x7a) return String.fromCharCode(code & 0x1f); // a–z
  return null;
}

/** The key that moves focus out of the terminal (Tab belongs to the guest's shell). */
export const LEAVE_KEY_LABEL = "Ctrl+]";

/**
 * Ctrl+] (telnet's escape key, rarely typed at a shell): leaves the terminal instead of reaching
 * the guest. Matched by the physical key too, for layouts where `]` needs AltGr.
 */
export function isLeaveKey(
  e: Pick<KeyboardEvent, "ctrlKey" | "altKey" | "metaKey" | "shiftKey" | "key" | "code">,
): boolean {
  if (!e.ctrlKey || e.metaKey || e.shiftKey) return false;
  return e.key === "]" || (e.code === "BracketRight" && !e.altKey);
}
