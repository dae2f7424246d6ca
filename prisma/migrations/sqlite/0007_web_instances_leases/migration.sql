-- AlterTable
ALTER TABLE "Task" ADD COLUMN "followerId" TEXT;

-- CreateTable
CREATE TABLE "WebInstance" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL DEFAULT 'web',
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Lease" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "holder" TEXT NOT NULL,
    "expiresAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "ConsolePresence" (
    "instanceId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "viewers" TEXT NOT NULL,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("instanceId", "vmId")
);

-- CreateIndex
CREATE INDEX "ConsolePresence_vmId_idx" ON "ConsolePresence"("vmId");
