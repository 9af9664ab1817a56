-- AlterTable
ALTER TABLE "Operation" ADD COLUMN "clusterid" INTEGER;

-- CreateIndex
CREATE INDEX "Operation_clusterid_startedAt_idx" ON "Operation"("clusterid", "startedAt");

-- CreateIndex
CREATE INDEX "Operation_kind_startedAt_idx" ON "Operation"("kind", "startedAt");


-- Backfill: operations recorded before the column name their cluster in their target or requester
-- ("cluster:N", "domain:N:V") or through their ticket ("ticket:UUID").
UPDATE "Operation" SET "clusterid" = CAST(substr("target", 9) AS INTEGER)
  WHERE "clusterid" IS NULL AND "target" LIKE 'cluster:%';
UPDATE "Operation" SET "clusterid" = CAST(substr("target", 8, instr(substr("target", 8), ':') - 1) AS INTEGER)
  WHERE "clusterid" IS NULL AND "target" LIKE 'domain:%:%';
UPDATE "Operation" SET "clusterid" = (
    SELECT "Cluster"."clusterid" FROM "Ticket" JOIN "Cluster" ON "Cluster"."id" = "Ticket"."clusterId"
    WHERE "Ticket"."id" = substr("Operation"."target", 8))
  WHERE "clusterid" IS NULL AND "target" LIKE 'ticket:%';
UPDATE "Operation" SET "clusterid" = CAST(substr("requester", 8, instr(substr("requester", 8), ':') - 1) AS INTEGER)
  WHERE "clusterid" IS NULL AND "requester" LIKE 'domain:%:%';
