-- AlterTable
ALTER TABLE "Domain" ADD COLUMN "diskReadBytes" BIGINT;
ALTER TABLE "Domain" ADD COLUMN "diskReads" BIGINT;
ALTER TABLE "Domain" ADD COLUMN "diskWrites" BIGINT;
ALTER TABLE "Domain" ADD COLUMN "diskWrittenBytes" BIGINT;
ALTER TABLE "Domain" ADD COLUMN "overlayBytes" BIGINT;

