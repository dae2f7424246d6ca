-- AlterTable
ALTER TABLE "User" ADD COLUMN     "vmMaxCount" INTEGER,
ADD COLUMN     "vmMaxMemoryMiB" INTEGER,
ADD COLUMN     "vmMaxStorageGiB" INTEGER;
