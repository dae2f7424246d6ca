/**
 * A SQLite database the process's user cannot reach fails deep inside the driver with "unable to
 * open database file"; say instead, in one sentence, which user cannot reach which directory.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";

/** The first directory on the way to `databaseUrl`'s file that this user cannot use; null when fine. */
export function unreachableDatabase(databaseUrl: string): string | null {
  if (!databaseUrl.startsWith("file:")) return null;
  const file = path.resolve(databaseUrl.slice("file:".length).split("?")[0] ?? "");
  const user = userInfo().username;
  const parts = path.dirname(file).split(path.sep).filter(Boolean);
  let dir = "/";
  for (const part of parts) {
    dir = path.join(dir, part);
    if (!existsSync(dir)) break;
    try {
      accessSync(dir, constants.X_OK);
    } catch {
      const mode = (statSync(dir).mode & 0o777).toString(8).padStart(4, "0");
      return `the database ${file} is out of reach: user ${user} cannot enter ${dir} (mode ${mode})`;
    }
  }
  const parent = path.dirname(file);
  if (existsSync(parent)) {
    try {
      accessSync(parent, constants.W_OK | constants.X_OK);
    } catch {
      return `the database ${file} is out of reach: user ${user} cannot write in ${parent}`;
    }
  }
  return null;
}
