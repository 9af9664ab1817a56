// Where pruned operations go: appended as JSON lines to one file per month of their start under the data
// directory's archive/, so keep_operations bounds the database, not the audit trail (nothing is lost unsaid).
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

export interface ArchivedOperation {
  id: string;
  kind: string;
  target: string;
  requester: string;
  status: string;
  error: string | null;
  detail: string;
  startedAt: Date;
  finishedAt: Date | null;
  clusterid: number | null;
}

/** The month file a row belongs to: operations-YYYY-MM.ndjson (UTC). */
export function archiveFileOf(dir: string, startedAt: Date): string {
  return path.join(dir, `operations-${startedAt.toISOString().slice(0, 7)}.ndjson`);
}

/** Appends the rows, each a JSON line (detail parsed back to an object); returns the files written. */
export function archiveOperations(dir: string, rows: ArchivedOperation[]): string[] {
  const byFile = new Map<string, string[]>();
  for (const row of rows) {
    const file = archiveFileOf(dir, row.startedAt);
    let detail: unknown = row.detail;
    try {
      detail = JSON.parse(row.detail);
    } catch {
      // kept as the text it was
    }
    const line = JSON.stringify({
      ...row,
      detail,
      startedAt: row.startedAt.toISOString(),
      finishedAt: row.finishedAt?.toISOString() ?? null,
    });
    byFile.set(file, [...(byFile.get(file) ?? []), line]);
  }
  if (byFile.size > 0) mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const [file, lines] of byFile) appendFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return [...byFile.keys()];
}
