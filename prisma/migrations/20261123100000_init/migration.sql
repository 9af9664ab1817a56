-- CreateTable
CREATE TABLE "Host" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "unicast" TEXT NOT NULL,
    "multicast" TEXT NOT NULL,
    "cpus" INTEGER NOT NULL,
    "ram" BIGINT NOT NULL,
    "capabilities" TEXT NOT NULL DEFAULT '{}',
    "secretHash" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'offline',
    "lastSeen" DATETIME,
    "registeredAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "Cluster" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "clusterid" INTEGER NOT NULL,
    "name" TEXT,
    "seedConfig" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'running',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME
);

-- CreateTable
CREATE TABLE "Domain" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "clusterId" TEXT NOT NULL,
    "vmid" INTEGER NOT NULL,
    "hostId" TEXT NOT NULL,
    "vcpus" INTEGER NOT NULL,
    "memory" BIGINT NOT NULL,
    "state" TEXT NOT NULL,
    "ip" TEXT,
    "mac" TEXT,
    "ticketId" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME,
    CONSTRAINT "Domain_clusterId_fkey" FOREIGN KEY ("clusterId") REFERENCES "Cluster" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Domain_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Domain_ticketId_fkey" FOREIGN KEY ("ticketId") REFERENCES "Ticket" ("id") ON DELETE SET NULL ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Ticket" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "clusterId" TEXT NOT NULL,
    "requested" INTEGER NOT NULL,
    "granted" INTEGER NOT NULL,
    "procs" BOOLEAN NOT NULL,
    "min" INTEGER NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'unused',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Ticket_clusterId_fkey" FOREIGN KEY ("clusterId") REFERENCES "Cluster" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Allocation" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "ticketId" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "vmid" INTEGER NOT NULL,
    "processors" INTEGER NOT NULL,
    "memory" BIGINT NOT NULL,
    CONSTRAINT "Allocation_ticketId_fkey" FOREIGN KEY ("ticketId") REFERENCES "Ticket" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Allocation_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "Host" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Operation" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "kind" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "requester" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'running',
    "progress" REAL NOT NULL DEFAULT 0,
    "error" TEXT,
    "detail" TEXT NOT NULL DEFAULT '{}',
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" DATETIME
);

-- CreateIndex
CREATE UNIQUE INDEX "Host_name_key" ON "Host"("name");

-- CreateIndex
CREATE UNIQUE INDEX "Cluster_clusterid_key" ON "Cluster"("clusterid");

-- CreateIndex
CREATE INDEX "Domain_clusterId_vmid_idx" ON "Domain"("clusterId", "vmid");

-- CreateIndex
CREATE INDEX "Domain_hostId_state_idx" ON "Domain"("hostId", "state");

-- CreateIndex
CREATE INDEX "Ticket_clusterId_state_idx" ON "Ticket"("clusterId", "state");

-- CreateIndex
CREATE INDEX "Allocation_hostId_idx" ON "Allocation"("hostId");

-- CreateIndex
CREATE UNIQUE INDEX "Allocation_ticketId_vmid_key" ON "Allocation"("ticketId", "vmid");

-- CreateIndex
CREATE INDEX "Operation_startedAt_idx" ON "Operation"("startedAt");

