import type { VmLive } from "@/server/web/vms/views";
import { memoryText } from "./words";

/** "64 MiB configured" and, when the guest answers, "guest uses 14 of 39 MiB usable". */
export function MemoryFigure({
  configuredMiB,
  live,
}: {
  configuredMiB: number;
  live: Pick<VmLive, "memTotalKiB" | "memAvailableKiB">;
}) {
  const text = memoryText(configuredMiB, live);
  return (
    <>
      <span className="block">{text.configured}</span>
      {text.guest ? (
        <span
          className="block text-xs text-stone-600 dark:text-stone-400"
          title="The guest's kernel keeps part of the configured memory for itself; the rest is usable."
        >
          {text.guest}
        </span>
      ) : null}
    </>
  );
}
