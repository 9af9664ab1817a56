// Operations panel: every mutating operation with who did it, its progress and its result, kept after completion.
import type { Metadata } from 'next';
import { OperationsLive } from '../../../components/operations/operations-live.tsx';
import { ErrorBanner, PageHeading } from '../../../components/ui.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Operations — SFDashBoard' };

export default async function OperationsPage() {
  const ops = await loadForPage('/operations', (c) => c.operations.list.query({ limit: 200 }));
  return (
    <>
      <PageHeading
        title="Operations"
        subtitle="Every change to the system, newest first: who asked, how far it got, and how it ended. Live."
      />
      {ops.ok ? <OperationsLive initial={ops.value} /> : <ErrorBanner title="Could not load the operations." message={ops.error.message} />}
    </>
  );
}
