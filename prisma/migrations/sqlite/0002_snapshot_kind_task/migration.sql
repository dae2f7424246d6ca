-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Snapshot" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "vmId" TEXT NOT NULL,
    "label" TEXT NOT NULL,
    "includesStorage" BOOLEAN NOT NULL DEFAULT false,
    "status" TEXT NOT NULL DEFAULT 'requested',
    "kind" TEXT NOT NULL DEFAULT 'manual',
    "taskId" TEXT,
    "sizeBytes" BIGINT NOT NULL DEFAULT 0,
    "manifest" TEXT NOT NULL DEFAULT '{}',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Snapshot_vmId_fkey" FOREIGN KEY ("vmId") REFERENCES "Vm" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_Snapshot" ("createdAt", "id", "includesStorage", "label", "manifest", "sizeBytes", "status", "updatedAt", "vmId") SELECT "createdAt", "id", "includesStorage", "label", "manifest", "sizeBytes", "status", "updatedAt", "vmId" FROM "Snapshot";
DROP TABLE "Snapshot";
ALTER TABLE "new_Snapshot" RENAME TO "Snapshot";
CREATE INDEX "Snapshot_vmId_createdAt_idx" ON "Snapshot"("vmId", "createdAt");
CREATE INDEX "Snapshot_status_idx" ON "Snapshot"("status");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
