import Database from "better-sqlite3";
import { DB_FILE } from "../env";

/** A user's id from the e2e database (read-only). */
export function userIdOf(username: string): string {
  const db = new Database(DB_FILE, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT id FROM User WHERE username = ?").get(username) as
      | { id: string }
      | undefined;
    if (!row) throw new Error(`no user ${username}`);
    return row.id;
  } finally {
    db.close();
  }
}
