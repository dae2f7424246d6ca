-- AlterTable
ALTER TABLE "Task" ADD COLUMN     "followerId" TEXT;

-- CreateTable
CREATE TABLE "WebInstance" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'web',
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebInstance_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Lease" (
    "name" TEXT NOT NULL,
    "holder" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Lease_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "ConsolePresence" (
    "instanceId" TEXT NOT NULL,
    "vmId" TEXT NOT NULL,
    "viewers" TEXT NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ConsolePresence_pkey" PRIMARY KEY ("instanceId","vmId")
);

-- CreateIndex
CREATE INDEX "ConsolePresence_vmId_idx" ON "ConsolePresence"("vmId");
