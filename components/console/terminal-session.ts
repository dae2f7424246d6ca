import { FitAddon } from "@xterm/addon-fit";
import { SearchAddon } from "@xterm/addon-search";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { Terminal } from "@xterm/xterm";
import {
  type BrowserSocket,
  type ConnectionStatus,
  ConsoleConnection,
  type ConsoleTicket,
  type TerminalSink,
  type Viewer,
} from "./console-connection";
import { type ArrowKey, applyCtrl, arrowKey, isLeaveKey, ON_SCREEN_KEYS } from "./keys";
import type { BackoffOptions } from "./reconnect";
import { safeLinkUrl, swallowTerminalQueries } from "./terminal-guards";

export interface TerminalSessionOptions {
  /** A fresh single-use ticket and the socket URL (`wss://…/ws/console?vm=…`) per attempt. */
  getTicket: () => Promise<ConsoleTicket>;
  onStatus?: (status: ConnectionStatus) => void;
  onViewers?: (viewers: Viewer[]) => void;
  onNotice?: (text: string) => void;
  /** The sticky on-screen Ctrl was armed or used up. */
  onCtrlArmed?: (armed: boolean) => void;
  /** The user pressed the leave key (Ctrl+], see keys.ts): move focus out of the terminal. */
  onLeave?: () => void;
  backoff?: BackoffOptions;
  createSocket?: (url: string, protocols: string[]) => BrowserSocket;
}

/** Only web links open, in a new tab without access to this page (OSC 8 can carry `javascript:`). */
function openLink(uri: string): void {
  const href = safeLinkUrl(uri);
  if (href) window.open(href, "_blank", "noopener,noreferrer");
}

/**
 * The browser console: owns the xterm.js terminal, the socket (through ConsoleConnection) and the
 * reconnect machine; the React component only mounts it and renders its status.
 */
export class TerminalSession {
  readonly terminal: Terminal;
  readonly #fit = new FitAddon();
  readonly #search = new SearchAddon();
  readonly #connection: ConsoleConnection;
  readonly #options: TerminalSessionOptions;
  #ctrlArmed = false;
  #resizeObserver: ResizeObserver | undefined;
  #fitTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;

  constructor(options: TerminalSessionOptions) {
    this.#options = options;
    this.terminal = new Terminal({
      screenReaderMode: true,
      scrollback: 10_000,
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace",
      fontSize: 14,
      // At 1.0 the DOM renderer clips glyphs below the baseline: `_` vanished (`__P__$` → `  P  $`).
      lineHeight: 1.2,
      linkHandler: { activate: (_event, text) => openLink(text), allowNonHttpProtocols: false },
    });
    this.terminal.loadAddon(this.#fit);
    this.terminal.loadAddon(this.#search);
    this.terminal.loadAddon(new WebLinksAddon((_event, uri) => openLink(uri)));
    swallowTerminalQueries(this.terminal);
    // Tab is the guest's (completion), so keyboard users leave the terminal with Ctrl+] instead.
    this.terminal.attachCustomKeyEventHandler((event) => {
      if (!isLeaveKey(event)) return true;
      if (event.type === "keydown") {
        event.preventDefault();
        options.onLeave?.();
      }
      return false;
    });

    const terminal = this.terminal;
    const sink: TerminalSink = {
      reset: () => terminal.reset(),
      write: (bytes, done) => terminal.write(bytes, done),
      size: () => ({ cols: terminal.cols, rows: terminal.rows }),
    };
    this.#connection = new ConsoleConnection({
      getTicket: options.getTicket,
      sink,
      createSocket: options.createSocket,
      backoff: options.backoff,
      onStatus: options.onStatus,
      onViewers: options.onViewers,
      onNotice: options.onNotice,
    });

    terminal.onData((data) => this.#typed(data));
    // Binary input (some mouse reports) is Latin-1 in a string: one char per byte.
    terminal.onBinary((data) =>
      this.#connection.sendInput(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)),
    );
    terminal.onResize(({ cols, rows }) => this.#connection.sendResize(cols, rows));
    // The guest may set a title; it never reaches the page's title (output is untrusted).
  }

  /** Opens the terminal in `element`, fits it and starts connecting. */
  mount(element: HTMLElement, options: { describedBy?: string } = {}): void {
    this.terminal.open(element);
    // Screen readers announce how to leave when the terminal takes focus.
    if (options.describedBy) this.terminal.textarea?.setAttribute("aria-describedby", options.describedBy);
    this.#fit.fit();
    this.#resizeObserver = new ResizeObserver(() => this.#scheduleFit());
    this.#resizeObserver.observe(element);
    this.#connection.start();
    this.terminal.focus();
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#fitTimer);
    this.#resizeObserver?.disconnect();
    this.#connection.stop();
    this.terminal.dispose();
  }

  /** Fits to the container now; the resulting RESIZE reaches the guest through `onResize`. */
  fit(): void {
    if (!this.#disposed) this.#fit.fit();
  }

  reconnect(): void {
    this.#connection.reconnectNow();
  }

  /** A fresh socket now (the VM booted anew). */
  restart(): void {
    this.#connection.restart();
  }

  sendCtrlAltDel(): void {
    this.#connection.sendCtrlAltDel();
  }

  /** Bytes from the on-screen keys. */
  sendKeys(data: string | Uint8Array): void {
    this.#connection.sendInput(data);
    this.terminal.focus();
  }

  sendKey(key: "escape" | "tab" | "ctrlC" | ArrowKey): void {
    if (key === "escape" || key === "tab" || key === "ctrlC") this.sendKeys(ON_SCREEN_KEYS[key]);
    else this.sendKeys(arrowKey(key, this.terminal.modes.applicationCursorKeysMode));
  }

  /** The sticky on-screen Ctrl: the next typed character is sent with Ctrl held. */
  setCtrlArmed(armed: boolean): void {
    this.#ctrlArmed = armed;
    this.#options.onCtrlArmed?.(armed);
    this.terminal.focus();
  }

  search(term: string, direction: "next" | "previous" = "next"): boolean {
    if (!term) {
      this.#search.clearDecorations();
      this.terminal.clearSelection();
      return false;
    }
    const options = { caseSensitive: false, incremental: direction === "next" };
    return direction === "next"
      ? this.#search.findNext(term, options)
      : this.#search.findPrevious(term, options);
  }

  selection(): string {
    return this.terminal.getSelection();
  }

  /** Pastes as typed input (bracketed when the guest asked for it). */
  paste(text: string): void {
    this.terminal.paste(text);
    this.terminal.focus();
  }

  focus(): void {
    this.terminal.focus();
  }

  #typed(data: string): void {
    if (this.#ctrlArmed) {
      this.#ctrlArmed = false;
      this.#options.onCtrlArmed?.(false);
      const withCtrl = applyCtrl(data);
      if (withCtrl !== null) data = withCtrl;
    }
    this.#connection.sendInput(data);
  }

  /** Debounced for resize events only; output never waits on a timer. */
  #scheduleFit(): void {
    clearTimeout(this.#fitTimer);
    this.#fitTimer = setTimeout(() => this.fit(), 60);
  }
}

export type { ConnectionStatus, Viewer };
