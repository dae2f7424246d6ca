import { Readable } from "node:stream";
import { withMember, z } from "@/server/web/auth/wrappers";
import { ActionFailure } from "@/server/web/errors";
import { readBootLog } from "@/server/web/vms/boots";

export const dynamic = "force-dynamic";

const BootNumber = z.coerce.number().int().min(1).max(999_999_999);

/**
 * GET: one boot's console log as the console wrote it (escapes and all), for a VM the caller may
 * see; `?download=1` saves it as `<vm>-boot-<n>.log`. 404 once the retention removed it.
 */
export const GET = withMember(
  "vm.read",
  z.object({ download: z.enum(["1"]).optional() }).strict(),
  async (input, { caller, params }) => {
    const n = BootNumber.safeParse(params.n);
    if (!n.success) throw new ActionFailure("not-found", "No such boot.");
    const log = await readBootLog(caller, String(params.name ?? ""), n.data);
    const filename = `${log.vm}-boot-${n.data}.log`;
    return new Response(Readable.toWeb(log.body) as ReadableStream, {
      headers: {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "content-disposition": `${input.download ? "attachment" : "inline"}; filename="${filename}"`,
      },
    });
  },
);
