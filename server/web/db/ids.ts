import { randomUUID } from "node:crypto";

/** Every row id is generated here (not by the database), so both providers behave the same. */
export function newId(): string {
  return randomUUID();
}
