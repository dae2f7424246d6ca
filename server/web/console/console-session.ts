import type { WebSocket } from "ws";
import {
  CONSOLE_LIMITS,
  ConsoleCloseCode,
  type ConsoleControl,
  ConsoleFrameError,
  ConsoleFrameKind,
  decodeConsoleFrame,
  encodeConsoleFrame,
} from "../../protocol/console";
import type { ConsoleCloseReason, ConsoleHub, ConsoleRole, ConsoleSlot, ConsoleViewer } from "./console-hub";

export interface ConsoleSessionOptions {
  /** The browser's socket, already upgraded. */
  browser: WebSocket;
  /** The agent's console socket for this VM, open or still connecting. */
  agent: WebSocket;
  user: { id: string; username: string; role: ConsoleRole };
  vm: { id: string; name: string; ownerId: string };
  hub: ConsoleHub;
  /** The slot reserved at upgrade; released when the session ends. */
  slot?: ConsoleSlot;
  /** May this viewer send Ctrl-Alt-Del (a reboot of the guest)? */
  canCtrlAltDel?: boolean;
  /**
   * Ctrl-Alt-Del is the panel's reboot (a task, audited, in the VM's history; issue 11 point 9),
   * asked by this viewer: resolves with null when accepted, or the reason it was refused. Without
   * it (tests with a fake agent) the frame goes to the agent as it came.
   */
  ctrlAltDel?: (who: { userId: string; vmName: string }) => Promise<string | null>;
  /** Closes the console after this long without keyboard input, resize or Ctrl-Alt-Del. */
  idleTimeoutMs?: number;
  /** WebSocket ping interval towards the browser; a missed pong terminates the session. */
  heartbeatMs?: number;
  agentConnectTimeoutMs?: number;
  /**
   * Re-checks the viewer's access (user still active, still allowed on this VM) every
   * `recheckAccessMs`; false closes the console as revoked. Catches revocations that did not go
   * through `ConsoleHub.closeUser` on this process (the CLI, another web process).
   */
  recheckAccess?: () => Promise<boolean>;
  recheckAccessMs?: number;
  /** Most bytes the web tier keeps queued towards either side before it stops reading the other. */
  windowBytes?: number;
  onClose?: (info: { code: number; reason: string }) => void;
}

export type ConsoleSessionState = "connecting" | "replaying" | "live" | "closed";

const closeCodes: Record<ConsoleCloseReason, number> = {
  revoked: ConsoleCloseCode.revoked,
  idle: ConsoleCloseCode.idle,
  shutdown: ConsoleCloseCode.goingAway,
  unavailable: ConsoleCloseCode.unavailable,
};

const closeTexts: Record<ConsoleCloseReason, string> = {
  revoked: "Access to this console was revoked.",
  idle: "Closed after a long time without input.",
  shutdown: "The server is restarting.",
  unavailable: "The console is not available.",
};

const OPEN = 1;

/**
 * Bridges one browser WebSocket to one agent console WebSocket. Every browser frame is decoded and
 * checked before anything reaches the agent; agent frames pass through unchanged.
 *
 * Flow control is end to end: the browser's ACKs go to the agent, which never has more than
 * `flowHighWaterBytes` unacknowledged in flight, so this process holds at most that much per
 * session. ACKs are clamped to what was actually sent, and if the browser's socket still backs
 * up (a client acking bytes it never read), reading from the agent pauses until it drains.
 */
export class ConsoleSession implements ConsoleViewer {
  readonly userId: string;
  readonly username: string;
  readonly role: ConsoleRole;
  readonly vmId: string;
  readonly vmName: string;
  readonly vmOwnerId: string;
  readonly since = new Date();

  #state: ConsoleSessionState = "connecting";
  readonly #browser: WebSocket;
  readonly #agent: WebSocket;
  readonly #hub: ConsoleHub;
  readonly #slot: ConsoleSlot | undefined;
  readonly #canCtrlAltDel: boolean;
  readonly #ctrlAltDel: ConsoleSessionOptions["ctrlAltDel"];
  readonly #window: number;
  readonly #onClose: ConsoleSessionOptions["onClose"];
  /** DATA bytes sent to the browser and not yet acknowledged by it. */
  #unacked = 0;
  #agentPaused = false;
  #browserPaused = false;
  #browserAlive = true;
  readonly #idleTimer: NodeJS.Timeout;
  readonly #heartbeat: NodeJS.Timeout;
  #connectTimer: NodeJS.Timeout | undefined;
  #recheckTimer: NodeJS.Timeout | undefined;

  constructor(options: ConsoleSessionOptions) {
    this.userId = options.user.id;
    this.username = options.user.username;
    this.role = options.user.role;
    this.vmId = options.vm.id;
    this.vmName = options.vm.name;
    this.vmOwnerId = options.vm.ownerId;
    this.#browser = options.browser;
    this.#agent = options.agent;
    this.#hub = options.hub;
    this.#slot = options.slot;
    this.#canCtrlAltDel = options.canCtrlAltDel ?? true;
    this.#ctrlAltDel = options.ctrlAltDel;
    this.#window = options.windowBytes ?? CONSOLE_LIMITS.flowHighWaterBytes;
    this.#onClose = options.onClose;

    this.#idleTimer = setTimeout(() => this.close("idle"), options.idleTimeoutMs ?? 30 * 60_000);
    this.#heartbeat = setInterval(() => this.#ping(), options.heartbeatMs ?? 30_000);
    this.#idleTimer.unref();
    this.#heartbeat.unref();
    const recheck = options.recheckAccess;
    if (recheck) {
      this.#recheckTimer = setInterval(() => {
        recheck().then(
          (allowed) => allowed || this.close("revoked"),
          () => {}, // a failed check (database busy) is retried on the next tick
        );
      }, options.recheckAccessMs ?? 5_000);
      this.#recheckTimer.unref();
    }

    const browser = this.#browser;
    browser.on("message", (data, isBinary) => this.#fromBrowser(data as Buffer, isBinary));
    browser.on("pong", () => {
      this.#browserAlive = true;
    });
    // ws closes with 1009 by itself when a frame exceeds maxPayload; the error only needs a listener.
    browser.on("error", () => {});
    browser.on("close", () => this.#finish(ConsoleCloseCode.normal, "browser closed"));

    const agent = this.#agent;
    agent.on("message", (data) => this.#fromAgent(data as Buffer));
    agent.on("error", () => {});
    agent.on("close", () => this.#agentClosed());
    if (agent.readyState === OPEN) this.#agentOpened();
    else {
      this.#setBrowserPaused(true);
      agent.once("open", () => this.#agentOpened());
      this.#connectTimer = setTimeout(
        () => this.close("unavailable"),
        options.agentConnectTimeoutMs ?? 10_000,
      );
    }
    this.#hub.join(this);
  }

  get state(): ConsoleSessionState {
    return this.#state;
  }

  /** Bytes this process holds queued for the browser (the flow-control invariant's subject). */
  get bufferedToBrowser(): number {
    return this.#browser.bufferedAmount;
  }

  sendControl(message: ConsoleControl): void {
    if (this.#browser.readyState === OPEN)
      this.#browser.send(encodeConsoleFrame({ kind: "control", message }));
  }

  /** Ends the session, telling the browser why (revocation, idle, shutdown). */
  close(reason: ConsoleCloseReason): void {
    if (this.#state === "closed") return;
    this.sendControl({ type: "closing", reason: closeTexts[reason] });
    this.#closeBoth(closeCodes[reason], reason);
  }

  #agentOpened(): void {
    clearTimeout(this.#connectTimer);
    if (this.#state === "closed") return;
    this.#state = "replaying";
    this.#setBrowserPaused(false);
  }

  #agentClosed(): void {
    if (this.#state === "closed") return;
    this.sendControl({ type: "closing", reason: closeTexts.unavailable });
    this.#closeBoth(ConsoleCloseCode.unavailable, "agent closed");
  }

  #fromBrowser(message: Buffer, isBinary: boolean): void {
    this.#browserAlive = true;
    if (this.#state === "closed") return;
    const step = this.#route(message, isBinary);
    if ("refuse" in step) this.#closeBoth(step.refuse, step.reason);
    else if ("reply" in step) this.sendControl(step.reply);
    else if ("ctrlAltDel" in step) this.#askCtrlAltDel(step.ctrlAltDel);
    else if ("forward" in step) {
      if (step.activity) this.#idleTimer.refresh();
      this.#toAgent(step.forward);
    }
  }

  /** What to do with one browser message: every frame is decoded and checked first. */
  #route(
    message: Buffer,
    isBinary: boolean,
  ):
    | { refuse: number; reason: string }
    | { reply: ConsoleControl }
    | { forward: Uint8Array; activity: boolean }
    | { ctrlAltDel: NonNullable<ConsoleSessionOptions["ctrlAltDel"]> }
    | { ignore: true } {
    if (!isBinary) return { refuse: ConsoleCloseCode.unsupportedData, reason: "binary frames only" };
    let frame: ReturnType<typeof decodeConsoleFrame>;
    try {
      frame = decodeConsoleFrame(message);
    } catch (error) {
      return error instanceof ConsoleFrameError && /too large/.test(error.message)
        ? { refuse: ConsoleCloseCode.tooBig, reason: "frame too large" }
        : { refuse: ConsoleCloseCode.unsupportedData, reason: "malformed frame" };
    }
    switch (frame.kind) {
      case "data":
        return frame.bytes.length > CONSOLE_LIMITS.maxInputBytes
          ? { refuse: ConsoleCloseCode.tooBig, reason: "input frame too large" }
          : { forward: message, activity: true };
      case "resize":
        return { forward: message, activity: true };
      case "ack": {
        // Never let a client acknowledge more than it was sent: that would widen the agent's window.
        const bytes = Math.min(frame.bytes, this.#unacked);
        this.#unacked -= bytes;
        return bytes > 0
          ? { forward: encodeConsoleFrame({ kind: "ack", bytes }), activity: false }
          : { ignore: true };
      }
      case "control":
        switch (frame.message.type) {
          case "ctrl-alt-del":
            if (!this.#canCtrlAltDel)
              return { reply: { type: "notice", text: "You may not reboot this VM." } };
            return this.#ctrlAltDel ? { ctrlAltDel: this.#ctrlAltDel } : { forward: message, activity: true };
          case "ping":
            return { reply: { type: "pong", t: frame.message.t } };
          case "pong":
            return { ignore: true };
          default:
            return { refuse: ConsoleCloseCode.policy, reason: "server-only control message" };
        }
    }
  }

  #askCtrlAltDel(ask: NonNullable<ConsoleSessionOptions["ctrlAltDel"]>): void {
    this.#idleTimer.refresh();
    ask({ userId: this.userId, vmName: this.vmName }).then(
      (refused) =>
        refused &&
        this.sendControl({ type: "notice", text: `Ctrl-Alt-Del refused: ${refused}`.slice(0, 500) }),
      () => this.sendControl({ type: "notice", text: "Ctrl-Alt-Del failed; try again." }),
    );
  }

  #fromAgent(message: Buffer): void {
    if (this.#state === "closed" || this.#browser.readyState !== OPEN || message.length === 0) return;
    const kind = message[0];
    if (kind === ConsoleFrameKind.data) {
      this.#unacked += message.length - 1;
    } else if (kind === ConsoleFrameKind.control) {
      let frame: ReturnType<typeof decodeConsoleFrame>;
      try {
        frame = decodeConsoleFrame(message);
      } catch {
        return; // the agent is trusted but not blindly: drop what the browser could not parse
      }
      if (frame.kind === "control" && frame.message.type === "replay-end") this.#state = "live";
    } else {
      return; // RESIZE and ACK only travel towards the agent
    }
    this.#browser.send(message, () => this.#browserDrained());
    if (!this.#agentPaused && this.#browser.bufferedAmount > this.#window) {
      this.#agentPaused = true;
      this.#agent.pause();
    }
  }

  #browserDrained(): void {
    if (this.#agentPaused && this.#browser.bufferedAmount <= this.#window / 2 && this.#state !== "closed") {
      this.#agentPaused = false;
      this.#agent.resume();
    }
  }

  #toAgent(message: Uint8Array): void {
    if (this.#agent.readyState !== OPEN) return;
    this.#agent.send(message, () => this.#agentDrained());
    if (this.#agent.bufferedAmount > this.#window) this.#setBrowserPaused(true);
  }

  #agentDrained(): void {
    if (this.#browserPaused && this.#agent.bufferedAmount <= this.#window / 2) this.#setBrowserPaused(false);
  }

  #setBrowserPaused(paused: boolean): void {
    if (paused === this.#browserPaused || this.#state === "closed") return;
    this.#browserPaused = paused;
    if (paused) this.#browser.pause();
    else this.#browser.resume();
  }

  #ping(): void {
    if (!this.#browserAlive) {
      this.#browser.terminate();
      return;
    }
    this.#browserAlive = false;
    if (this.#browser.readyState === OPEN) this.#browser.ping();
  }

  #closeBoth(code: number, reason: string): void {
    if (this.#browser.readyState === OPEN) this.#browser.close(code, reason);
    else if (this.#browser.readyState !== 3) this.#browser.terminate();
    this.#finish(code, reason);
  }

  #finish(code: number, reason: string): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#idleTimer);
    clearInterval(this.#heartbeat);
    clearInterval(this.#recheckTimer);
    clearTimeout(this.#connectTimer);
    if (this.#browserPaused) this.#browser.resume(); // let ws read the close handshake
    if (this.#agent.readyState === OPEN) this.#agent.close(ConsoleCloseCode.normal, "browser gone");
    else this.#agent.terminate();
    this.#hub.leave(this);
    this.#slot?.release();
    this.#onClose?.({ code, reason });
  }
}
