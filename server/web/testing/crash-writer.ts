/**
 * A web-tier writer for crash-safety.itest.ts (security.md check 38): approves the pending accounts
 * given as its argument (comma-separated), one after another, through the data layer's real path (the status
 * change and its audit record), on the database DATABASE_URL names, and prints "approved <id>" once
 * each has returned (committed). The test kills it with SIGKILL at a random moment.
 */

import { unsafeChangeAccountStatus } from "../dal/change-account-status";
import { createDb, setDbForTests } from "../db/client";

const url = process.env.DATABASE_URL;
if (!url) throw new Error("DATABASE_URL is required");
setDbForTests(createDb(url));
const ids = (process.argv[2] ?? "").split(",").filter(Boolean);
process.stdout.write("ready\n");
for (const userId of ids) {
  await unsafeChangeAccountStatus(
    "cli",
    { userId, change: "approve" },
    { ip: "", userAgent: "crash-writer" },
  );
  process.stdout.write(`approved ${userId}\n`);
}
process.stdout.write("done\n");
