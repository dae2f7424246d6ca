"use client";

import { useEffect, useRef, useState } from "react";
import type { TaskView } from "@/server/web/dal/tasks";
import type { VmLive } from "@/server/web/vms/views";

/**
 * Live VM state and task updates pushed by the server (Server-Sent Events). The browser never
 * polls: EventSource holds one stream and reconnects by itself, and every connection starts with
 * a snapshot (`onSnapshot`) that the page takes in place of what it shows.
 */
export function useVmEvents<Snapshot = unknown>(
  /** null: no stream (nothing to watch). */
  url: string | null,
  handlers: {
    onSnapshot?: (snapshot: Snapshot) => void;
    onVm?: (vm: VmLive) => void;
    onTask?: (task: TaskView) => void;
  },
): { connected: boolean } {
  const ref = useRef(handlers);
  ref.current = handlers;
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (!url) return;
    const source = new EventSource(url);
    source.addEventListener("snapshot", (e) =>
      ref.current.onSnapshot?.(JSON.parse((e as MessageEvent).data) as Snapshot),
    );
    source.addEventListener("ready", () => setConnected(true));
    source.addEventListener("vm", (e) => ref.current.onVm?.(JSON.parse((e as MessageEvent).data) as VmLive));
    source.addEventListener("task", (e) =>
      ref.current.onTask?.(JSON.parse((e as MessageEvent).data) as TaskView),
    );
    source.addEventListener("error", () => setConnected(false));
    return () => source.close();
  }, [url]);
  return { connected };
}

/**
 * Seconds since `at`, advanced by the browser's clock once a second (no request). Counts from
 * each new reading, so a reboot's fresh uptime shows as soon as the server sends it.
 */
export function useUptime(live: Pick<VmLive, "uptimeSeconds" | "at" | "state">): number | null {
  const [now, setNow] = useState<number | null>(null);
  useEffect(() => {
    setNow(Date.now());
    if (live.state !== "running" && live.state !== "starting") return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [live.state]);
  if (live.uptimeSeconds === null) return null;
  if (now === null) return live.uptimeSeconds;
  return Math.floor(live.uptimeSeconds + Math.max(0, now - Date.parse(live.at)) / 1000);
}

export function formatUptime(seconds: number | null): string {
  if (seconds === null) return "—";
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
