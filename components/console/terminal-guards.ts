import type { Terminal } from "@xterm/xterm";

/**
 * Output is untrusted (the guest's root, or anyone who can make it print). Two guards on the
 * terminal that renders it:
 *
 * 1. Queries get no answer. tmux already answers the guest's terminal queries; an answer from this
 *    terminal would be typed into the guest as keyboard input (once per viewer). The agent strips
 *    queries from the stream; these handlers swallow any that get through.
 * 2. Links open only as http(s), in a new tab that cannot reach this page (OSC 8 can carry
 *    `javascript:` or `file:` targets).
 */
export function swallowTerminalQueries(terminal: Terminal): void {
  const swallow = () => true;
  const parser = terminal.parser;
  parser.registerCsiHandler({ final: "c" }, swallow); // DA1
  parser.registerCsiHandler({ prefix: ">", final: "c" }, swallow); // DA2
  parser.registerCsiHandler({ prefix: "=", final: "c" }, swallow); // DA3
  parser.registerCsiHandler({ final: "n" }, swallow); // DSR, cursor position report (6n)
  parser.registerCsiHandler({ prefix: "?", final: "n" }, swallow); // DEC DSR
  parser.registerCsiHandler({ prefix: ">", final: "q" }, swallow); // XTVERSION
  parser.registerCsiHandler({ intermediates: "$", final: "p" }, swallow); // DECRQM (ANSI)
  parser.registerCsiHandler({ prefix: "?", intermediates: "$", final: "p" }, swallow); // DECRQM (DEC)
  parser.registerDcsHandler({ intermediates: "$", final: "q" }, swallow); // DECRQSS
  // Colour queries (`OSC 4;n;?`, `OSC 10;?` …) are swallowed; setting a colour still works.
  for (const osc of [4, 10, 11, 12, 17, 19, 104])
    parser.registerOscHandler(osc, (data) => data.includes("?"));
}

/** The URL to open for a clicked link, or null: http(s) only, after parsing. */
export function safeLinkUrl(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
}
