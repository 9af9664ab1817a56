-- AlterTable
ALTER TABLE "Domain" ADD COLUMN "endReason" TEXT;
ALTER TABLE "Domain" ADD COLUMN "exitCode" INTEGER;

