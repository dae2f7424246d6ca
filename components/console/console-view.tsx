"use client";

// Imported here, so xterm's CSS ships only with the console route; the terminal code itself is
// loaded by the dynamic import below, in the browser only.
import "@xterm/xterm/css/xterm.css";
import { useCallback, useEffect, useRef, useState, useTransition } from "react";
import { useVmEvents } from "@/components/vms/use-vm-events";
import type { VmSnapshot } from "@/server/web/vms/stream-events";
import type { VmLive } from "@/server/web/vms/views";
import type { ConnectionStatus, Viewer } from "./console-connection";
import { LEAVE_KEY_LABEL } from "./keys";
import type { TerminalSession } from "./terminal-session";
import { TicketRefusedError } from "./ticket-refused-error";

/** The shape of the wrapped server action that issues a console ticket (ActionResult). */
export type IssueConsoleTicket = (input: {
  vmName: string;
}) => Promise<
  { ok: true; data: { token: string } } | { ok: false; error: { code: string; message: string } }
>;

/** The wrapped power action (app/actions/vms.ts), used here for Start only. */
export type StartVm = (input: {
  name: string;
  action: "start";
}) => Promise<{ ok: true } | { ok: false; error: { message: string } }>;

export interface ConsoleViewProps {
  vmName: string;
  issueTicket: IssueConsoleTicket;
  /** The VM's state when the page was rendered; kept current by the VM's event stream. */
  initialVm?: Pick<VmLive, "state" | "stage" | "bootId" | "at">;
  /** Offers Start on a stopped VM (absent when the permission table denies `vm.power`). */
  startVm?: StartVm;
  /** Hides the Ctrl-Alt-Del control when the permission table denies `vm.power`. */
  canCtrlAltDel?: boolean;
  /** The VM's page, linked from the toolbar. */
  backHref?: string;
  /** The owner's username when it is not the viewer's VM (an admin looking at a member's). */
  owner?: string;
}

/** The console socket's URL; the ticket goes in `Sec-WebSocket-Protocol`, never in the URL. */
function consoleUrl(vmName: string): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/ws/console?${new URLSearchParams({ vm: vmName })}`;
}

function describeStatus(status: ConnectionStatus | undefined): string {
  switch (status?.state) {
    case undefined:
    case "idle":
    case "connecting":
      return "Connecting…";
    case "replaying":
      return "Loading console history…";
    case "live":
      return "Live";
    case "reconnecting": {
      const seconds = Math.max(1, Math.round((status.retryInMs ?? 0) / 1000));
      return `${status.reason ?? "Disconnected."} Reconnecting in ${seconds} s (attempt ${status.attempt}).`;
    }
    case "closed":
      return `Closed. ${status.reason ?? ""}`.trim();
  }
}

/** What the status line says: the VM's state first (a stopped VM's console is not "Live"). */
function describeConsole(vm: Pick<VmLive, "state"> | undefined, status: ConnectionStatus | undefined) {
  if (vm?.state === "stopped") return "Stopped. Shown: the output of its last boot.";
  if (vm?.state === "crashed") return "Crashed. Shown: the output of its last boot.";
  if (vm?.state === "starting") return "Starting…";
  return describeStatus(status);
}

// Eight keys on one row at 375 px (a grid), natural widths from `sm` up.
const keyButton =
  "min-w-0 rounded border border-neutral-600 bg-neutral-800 px-1 py-2 sm:min-w-11 sm:px-3 text-sm text-neutral-100 hover:bg-neutral-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400 aria-pressed:bg-sky-700";
const toolButton =
  "rounded border border-neutral-600 px-2 py-1 text-sm text-neutral-100 hover:bg-neutral-700 focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400";

/** Full-window console for one VM: the TerminalSession does the work, this only mounts it. */
export function ConsoleView({
  vmName,
  issueTicket,
  canCtrlAltDel = true,
  backHref,
  owner,
  initialVm,
  startVm,
}: ConsoleViewProps) {
  const container = useRef<HTMLElement>(null);
  const toolbar = useRef<HTMLDivElement>(null);
  const [vm, setVm] = useState(initialVm);
  const [starting, startTransition] = useTransition();
  const session = useRef<TerminalSession | null>(null);
  // A server action's reference can change on a router refresh; that must not drop the console.
  const issueTicketRef = useRef(issueTicket);
  issueTicketRef.current = issueTicket;
  const [status, setStatus] = useState<ConnectionStatus>();
  const [viewers, setViewers] = useState<Viewer[]>([]);
  const [notice, setNotice] = useState<string>();
  const [ctrlArmed, setCtrlArmed] = useState(false);
  const [confirmingReboot, setConfirmingReboot] = useState(false);
  const [query, setQuery] = useState("");
  const [searchResult, setSearchResult] = useState<string>();

  // The VM's state, pushed: the console says "stopped" and offers Start when it is.
  const takeVm = useCallback((next: Pick<VmLive, "state" | "stage" | "bootId" | "at">) => {
    setVm((prev) => (prev && Date.parse(prev.at) > Date.parse(next.at) ? prev : next));
  }, []);
  useVmEvents<VmSnapshot>(initialVm ? `/api/vms/${vmName}/events` : null, {
    onSnapshot: (snapshot) => takeVm(snapshot.vm),
    onVm: takeVm,
  });
  // A new boot (started here or elsewhere): a fresh connection replays it from its first line.
  const bootRef = useRef(initialVm?.bootId ?? null);
  const runningRef = useRef(initialVm?.state === "running");
  useEffect(() => {
    if (!vm) return;
    const running = vm.state === "running";
    const newBoot = running && (!runningRef.current || (vm.bootId !== null && vm.bootId !== bootRef.current));
    runningRef.current = running;
    if (vm.bootId !== null) bootRef.current = vm.bootId;
    if (newBoot) session.current?.restart();
  }, [vm]);

  useEffect(() => {
    let cancelled = false;
    let mounted: TerminalSession | undefined;
    const getTicket = async () => {
      const result = await issueTicketRef.current({ vmName });
      if (!result.ok) {
        // Refused by the server (no access, suspended, VM gone): retrying would not help.
        if (result.error.code !== "internal" && result.error.code !== "rate-limited") {
          throw new TicketRefusedError(result.error.message);
        }
        throw new Error(result.error.message);
      }
      return { url: consoleUrl(vmName), token: result.data.token };
    };
    void import("./terminal-session").then(({ TerminalSession }) => {
      if (cancelled || !container.current) return;
      mounted = new TerminalSession({
        getTicket,
        onStatus: setStatus,
        onViewers: setViewers,
        onNotice: setNotice,
        onCtrlArmed: setCtrlArmed,
        // The leave key: to the toolbar's first control, from where Tab goes on as usual.
        onLeave: () =>
          toolbar.current?.querySelector<HTMLElement>("a[href], button:not([disabled]), input")?.focus(),
      });
      session.current = mounted;
      mounted.mount(container.current, { describedBy: "console-leave-hint" });
    });
    return () => {
      cancelled = true;
      mounted?.dispose();
      session.current = null;
    };
  }, [vmName]);

  const search = useCallback(
    (direction: "next" | "previous") => {
      const found = session.current?.search(query, direction) ?? false;
      setSearchResult(query && !found ? "No match" : undefined);
    },
    [query],
  );

  const copy = async () => {
    const text = session.current?.selection() ?? "";
    if (!text) return setNotice("Select text in the console first.");
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      setNotice("The browser refused clipboard access; use Ctrl+Shift+C.");
    }
  };

  const paste = async () => {
    try {
      session.current?.paste(await navigator.clipboard.readText());
    } catch {
      setNotice("The browser refused clipboard access; use Ctrl+Shift+V or a long press.");
    }
  };

  const live = status?.state === "live" || status?.state === "replaying";
  const vmDown = vm?.state === "stopped" || vm?.state === "crashed";

  const start = () =>
    startTransition(async () => {
      if (!startVm) return;
      const result = await startVm({ name: vmName, action: "start" });
      if (!result.ok) setNotice(result.error.message);
    });

  return (
    // Layout that the terminal's size depends on is inline, so it holds whatever the stylesheet:
    // a terminal without a height never renders (xterm pauses when not visible) and fits to 80x24.
    <div
      style={{ position: "fixed", inset: 0, display: "flex", flexDirection: "column" }}
      className="bg-neutral-950 text-neutral-100"
    >
      <div
        ref={toolbar}
        role="toolbar"
        aria-label="Console controls"
        className="flex flex-wrap items-center gap-2 border-b border-neutral-800 px-2 py-1"
      >
        {backHref ? (
          <a
            href={backHref}
            className="rounded px-1 font-mono text-sm text-sky-300 underline-offset-4 hover:underline focus-visible:outline focus-visible:outline-2 focus-visible:outline-sky-400"
          >
            ← {vmName}
          </a>
        ) : (
          <span className="font-mono text-sm">{vmName}</span>
        )}
        {owner && <span className="text-sm text-amber-300">owned by {owner}</span>}
        <output
          aria-live="polite"
          data-state={vmDown ? `vm-${vm?.state}` : (status?.state ?? "connecting")}
          className={`text-sm ${vmDown ? "text-amber-300" : "text-neutral-300"}`}
        >
          {describeConsole(vm, status)}
        </output>
        {vmDown && startVm && (
          <button
            type="button"
            className={`${toolButton} border-teal-500 bg-teal-800 hover:bg-teal-700 disabled:opacity-60`}
            onClick={start}
            disabled={starting}
          >
            {starting ? "Starting…" : "Start"}
          </button>
        )}
        {!vmDown &&
          status?.canReconnect !== false &&
          (status?.state === "closed" || status?.state === "reconnecting") && (
            <button type="button" className={toolButton} onClick={() => session.current?.reconnect()}>
              Reconnect now
            </button>
          )}
        {viewers.length > 0 && (
          <span className="flex gap-2 text-sm text-neutral-500">
            <span aria-hidden>Watching:</span>
            <ul aria-label="People watching this console" className="flex gap-2 text-neutral-300">
              {viewers.map((v) => (
                <li key={`${v.user}-${v.since}`}>{v.role === "admin" ? `${v.user} (admin)` : v.user}</li>
              ))}
            </ul>
          </span>
        )}
        <form
          aria-label="Search the console"
          className="ml-auto flex items-center gap-1"
          onSubmit={(e) => {
            e.preventDefault();
            search("next");
          }}
        >
          <input
            type="search"
            aria-label="Search console output"
            placeholder="Search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && e.shiftKey) {
                e.preventDefault();
                search("previous");
              }
            }}
            className="w-24 rounded border border-neutral-600 bg-neutral-900 px-2 py-1 text-sm sm:w-36"
          />
          <button
            type="button"
            className={toolButton}
            aria-label="Previous match"
            onClick={() => search("previous")}
          >
            ↑
          </button>
          <button type="submit" className={toolButton} aria-label="Next match">
            ↓
          </button>
          {searchResult && <span className="text-sm text-amber-300">{searchResult}</span>}
        </form>
        <span id="console-leave-hint" className="hidden text-xs text-neutral-400 sm:inline">
          <kbd className="rounded border border-neutral-600 px-1 font-mono">{LEAVE_KEY_LABEL}</kbd> leaves the
          terminal
        </span>
        <button type="button" className={toolButton} onClick={copy}>
          Copy
        </button>
        <button type="button" className={toolButton} onClick={paste} disabled={!live}>
          Paste
        </button>
        {canCtrlAltDel &&
          (confirmingReboot ? (
            <fieldset aria-label="Confirm Ctrl-Alt-Del" className="flex items-center gap-1 text-sm">
              Reboot the guest?
              <button
                type="button"
                className={`${toolButton} border-red-500`}
                onClick={() => {
                  session.current?.sendCtrlAltDel();
                  setConfirmingReboot(false);
                }}
              >
                Send Ctrl-Alt-Del
              </button>
              <button type="button" className={toolButton} onClick={() => setConfirmingReboot(false)}>
                Cancel
              </button>
            </fieldset>
          ) : (
            <button
              type="button"
              className={toolButton}
              onClick={() => setConfirmingReboot(true)}
              disabled={!live}
            >
              Ctrl-Alt-Del…
            </button>
          ))}
      </div>
      {notice && (
        <div role="alert" className="flex items-center gap-2 bg-amber-900/60 px-2 py-1 text-sm">
          <span>{notice}</span>
          <button
            type="button"
            className={toolButton}
            aria-label="Dismiss notice"
            onClick={() => setNotice(undefined)}
          >
            ×
          </button>
        </div>
      )}
      <section
        ref={container}
        style={{ flex: "1 1 auto", minHeight: 0, overflow: "hidden" }}
        className="p-1"
        aria-label={`Console of ${vmName}`}
      />
      <div
        role="toolbar"
        aria-label="On-screen keys"
        className="grid grid-cols-8 gap-1 border-t border-neutral-800 p-1 sm:flex sm:flex-wrap"
      >
        <button type="button" className={keyButton} onClick={() => session.current?.sendKey("escape")}>
          Esc
        </button>
        <button
          type="button"
          className={keyButton}
          aria-pressed={ctrlArmed}
          aria-label="Ctrl (applies to the next key)"
          onClick={() => session.current?.setCtrlArmed(!ctrlArmed)}
        >
          Ctrl
        </button>
        <button type="button" className={keyButton} onClick={() => session.current?.sendKey("tab")}>
          Tab
        </button>
        <button
          type="button"
          className={keyButton}
          aria-label="Ctrl-C"
          onClick={() => session.current?.sendKey("ctrlC")}
        >
          ^C
        </button>
        <button
          type="button"
          className={keyButton}
          aria-label="Arrow left"
          onClick={() => session.current?.sendKey("left")}
        >
          ←
        </button>
        <button
          type="button"
          className={keyButton}
          aria-label="Arrow up"
          onClick={() => session.current?.sendKey("up")}
        >
          ↑
        </button>
        <button
          type="button"
          className={keyButton}
          aria-label="Arrow down"
          onClick={() => session.current?.sendKey("down")}
        >
          ↓
        </button>
        <button
          type="button"
          className={keyButton}
          aria-label="Arrow right"
          onClick={() => session.current?.sendKey("right")}
        >
          →
        </button>
      </div>
    </div>
  );
}
