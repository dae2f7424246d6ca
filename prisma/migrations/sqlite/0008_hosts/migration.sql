-- CreateTable
CREATE TABLE "Host" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "address" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "joinTokenHash" TEXT,
    "joinExpiresAt" DATETIME,
    "certSerial" TEXT,
    "reachability" TEXT,
    "lastError" TEXT,
    "agentVersion" TEXT,
    "protocolVersion" INTEGER,
    "ramMiB" INTEGER,
    "swapMiB" INTEGER,
    "diskFreeMiB" INTEGER,
    "checkedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "IssuedCertificate" (
    "serial" TEXT NOT NULL PRIMARY KEY,
    "role" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "notAfter" DATETIME NOT NULL,
    "revokedAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "PanelCa" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "certPem" TEXT NOT NULL,
    "keySealed" TEXT NOT NULL,
    "crlNumber" INTEGER NOT NULL DEFAULT 1,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_joinTokenHash_key" ON "Host"("joinTokenHash");

-- CreateIndex
CREATE INDEX "IssuedCertificate_revokedAt_idx" ON "IssuedCertificate"("revokedAt");
