/** Console bytes as a page shows them (pure: the boot history page and its tests). */
const ESC = "\u001b";
const BEL = "\u0007";
/** CSI sequences, OSC strings, charset selections and the two-byte escapes. */
const ESCAPES = new RegExp(
  `${ESC}\\[[0-9;?<>=!]*[ -/]*[@-~]|${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)|${ESC}[()*+][0-9A-Za-z]|${ESC}[@-Z\\\\^_=>78]`,
  "g",
);
/** The rest of C0 and DEL (tab and newline stay). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/**
 * Console bytes as plain text: terminal escapes (colours, cursor moves, queries) removed, carriage
 * returns folded, other control characters dropped. What is left is what the screen said.
 */
export function bootLogText(raw: string): string {
  return raw
    .replace(ESCAPES, "")
    .replace(/\r+\n/g, "\n")
    .split("\n")
    .map((line) => line.slice(line.lastIndexOf("\r") + 1))
    .join("\n")
    .replace(CONTROLS, "");
}
