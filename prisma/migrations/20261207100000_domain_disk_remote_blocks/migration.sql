-- AlterTable
ALTER TABLE "Domain" ADD COLUMN "diskRemoteBlocks" BIGINT;
