-- AlterTable
ALTER TABLE "Ticket" ADD COLUMN "endedAt" DATETIME;
