"use server";

import { revalidatePath } from "next/cache";
import { adminAction, memberAction, z } from "@/server/web/auth/wrappers";
import { PlainText, Slug } from "@/server/web/domain";
import {
  approveSnapshot,
  deleteSnapshot,
  rejectSnapshot,
  restoreSnapshot,
  setMemberSnapshotQuota,
  setSnapshotDefaults,
  takeSnapshot,
} from "@/server/web/snapshots/service";

const Label = PlainText(80);
const Id = z.uuid();
const Bool = z.union([z.boolean(), z.enum(["on", "true", "false"]).transform((v) => v !== "false")]);

/** Take a snapshot (live when the VM runs); refused with the limit's name when over quota. */
export const takeSnapshotAction = memberAction(
  "vm.snapshot",
  z.object({ name: Slug, label: Label.default(""), includeStorage: Bool.default(false) }).strict(),
  async (input, { caller, meta }) => {
    const res = await takeSnapshot(
      caller,
      { vmName: input.name, label: input.label, includeStorage: input.includeStorage },
      meta,
    );
    revalidatePath(`/vms/${input.name}`);
    return res;
  },
);

/** Restore: `confirm` repeats the snapshot id (sent after the member confirmed). */
export const restoreSnapshotAction = memberAction(
  "vm.snapshot",
  z.object({ name: Slug, snapshotId: Id, confirm: z.string().max(64) }).strict(),
  async (input, { caller, meta }) =>
    restoreSnapshot(
      caller,
      { vmName: input.name, snapshotId: input.snapshotId, confirm: input.confirm },
      meta,
    ),
);

export const deleteSnapshotAction = memberAction(
  "vm.snapshot",
  z.object({ name: Slug, snapshotId: Id }).strict(),
  async (input, { caller, meta }) => {
    await deleteSnapshot(caller, { vmName: input.name, snapshotId: input.snapshotId }, meta);
    revalidatePath(`/vms/${input.name}`);
    return { deleted: input.snapshotId };
  },
);

export const approveSnapshotAction = adminAction(
  "snapshots.approve",
  z.object({ snapshotId: Id }).strict(),
  async (input, { caller, meta }) => {
    const res = await approveSnapshot(caller, input.snapshotId, meta);
    revalidatePath("/admin/snapshots");
    return res;
  },
);

export const rejectSnapshotAction = adminAction(
  "snapshots.approve",
  z.object({ snapshotId: Id }).strict(),
  async (input, { caller, meta }) => {
    await rejectSnapshot(caller, input.snapshotId, meta);
    revalidatePath("/admin/snapshots");
    return { rejected: input.snapshotId };
  },
);

const GiB = 1024 ** 3;

export const setSnapshotDefaultsAction = adminAction(
  "snapshots.policy",
  z
    .object({
      policy: z.enum(["immediate", "approval"]),
      maxCount: z.coerce.number().int().min(0, "0 or more").max(1000, "At most 1000"),
      maxGiB: z.coerce.number().min(0, "0 or more").max(100_000, "At most 100000"),
    })
    .strict(),
  async (input, { caller, meta }) => {
    await setSnapshotDefaults(
      caller,
      { policy: input.policy, maxCount: input.maxCount, maxBytes: Math.round(input.maxGiB * GiB) },
      meta,
    );
    revalidatePath("/admin/snapshots");
    return { saved: true };
  },
);

const Optional = (schema: z.ZodNumber) =>
  z.union([z.literal("").transform(() => null), z.null(), z.coerce.number().pipe(schema)]);

/** Per-member override; empty = the default. */
export const setMemberSnapshotQuotaAction = adminAction(
  "snapshots.quota",
  z
    .object({
      userId: Id,
      maxCount: Optional(z.number().int().min(0, "0 or more").max(1000, "At most 1000")),
      maxGiB: Optional(z.number().min(0, "0 or more").max(100_000, "At most 100000")),
    })
    .strict(),
  async (input, { caller, meta }) => {
    await setMemberSnapshotQuota(
      caller,
      {
        userId: input.userId,
        maxCount: input.maxCount,
        maxBytes: input.maxGiB === null ? null : Math.round(input.maxGiB * GiB),
      },
      meta,
    );
    revalidatePath("/admin/snapshots");
    return { saved: true };
  },
);
