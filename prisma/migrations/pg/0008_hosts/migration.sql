-- CreateTable
CREATE TABLE "Host" (
    "name" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "joinTokenHash" TEXT,
    "joinExpiresAt" TIMESTAMP(3),
    "certSerial" TEXT,
    "reachability" TEXT,
    "lastError" TEXT,
    "agentVersion" TEXT,
    "protocolVersion" INTEGER,
    "ramMiB" INTEGER,
    "swapMiB" INTEGER,
    "diskFreeMiB" INTEGER,
    "checkedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Host_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "IssuedCertificate" (
    "serial" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "notAfter" TIMESTAMP(3) NOT NULL,
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "IssuedCertificate_pkey" PRIMARY KEY ("serial")
);

-- CreateTable
CREATE TABLE "PanelCa" (
    "id" TEXT NOT NULL,
    "certPem" TEXT NOT NULL,
    "keySealed" TEXT NOT NULL,
    "crlNumber" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PanelCa_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_joinTokenHash_key" ON "Host"("joinTokenHash");

-- CreateIndex
CREATE INDEX "IssuedCertificate_revokedAt_idx" ON "IssuedCertificate"("revokedAt");
