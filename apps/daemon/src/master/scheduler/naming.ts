// Placeholder job names: `sf-<installation>-<ticket id>`, so admins see the ticket in squeue/qstat and each sfmd
// reconciles only its own jobs even when several Snowflock installations share one scheduler.
import { createHash } from 'node:crypto';
import os from 'node:os';

const TICKET_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A short stable id of this installation: the machine sfmd runs on and its data directory. */
export function installationTag(home: string): string {
  return createHash('sha256').update(`${os.hostname()}\0${home}`).digest('hex').slice(0, 8);
}

export function jobPrefix(tag: string): string {
  return `sf-${tag}-`;
}

export function jobName(tag: string, ticketId: string): string {
  return `${jobPrefix(tag)}${ticketId}`;
}

/** The ticket id a job of this installation was named after, or null for any other name. */
export function ticketOfJob(tag: string, name: string): string | null {
  const prefix = jobPrefix(tag);
  if (!name.startsWith(prefix)) return null;
  const id = name.slice(prefix.length);
  return TICKET_ID.test(id) ? id : null;
}
