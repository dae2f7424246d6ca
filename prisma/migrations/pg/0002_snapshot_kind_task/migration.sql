-- AlterTable
ALTER TABLE "Snapshot" ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'manual',
ADD COLUMN     "taskId" TEXT;

-- CreateIndex
CREATE INDEX "Snapshot_status_idx" ON "Snapshot"("status");
