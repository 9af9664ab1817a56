-- The state columns became enums (stored as TEXT, checked by the client on every read). Before, a domain booted by an
-- sfld could be recorded with the VM's own word for its state ('created', 'destroyed'); any such row would now make
-- every query that reads it fail. Map the VM words to the record's, and anything else outside a list to the state
-- that claims nothing (no resources held, nothing running).
UPDATE "Domain" SET "state" = 'running' WHERE "state" = 'created';
UPDATE "Domain" SET "state" = 'stopped' WHERE "state" = 'destroyed';
UPDATE "Domain" SET "state" = 'lost'
  WHERE "state" NOT IN ('defined', 'booting', 'running', 'paused', 'cloning', 'exited', 'halted', 'merged', 'stopped', 'lost', 'crashed');
UPDATE "Host" SET "state" = 'offline' WHERE "state" NOT IN ('online', 'offline', 'removed');
UPDATE "Cluster" SET "state" = 'lost' WHERE "state" NOT IN ('running', 'shutdown', 'lost');
UPDATE "Ticket" SET "state" = 'disposed' WHERE "state" NOT IN ('unused', 'outstanding', 'merged', 'disposed');
UPDATE "Operation" SET "status" = 'failed' WHERE "status" NOT IN ('running', 'succeeded', 'failed');
