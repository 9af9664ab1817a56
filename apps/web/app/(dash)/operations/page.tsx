// Operations panel: every mutating operation with who did it, its progress and its result, kept after completion.
import type { Metadata } from 'next';
import { OperationsLive } from '../../../components/operations/operations-live.tsx';
import { ErrorBanner, PageHeading } from '../../../components/ui.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Operations — SFDashBoard' };

export default async function OperationsPage() {
  const ops = await loadForPage('/operations', (c) => c.operations.page.query({ limit: 50 }));
  return (
    <>
      <PageHeading
        title="Operations"
        subtitle="Every change to the system, newest first: who asked, how far it got, and how it ended. Live."
      />
      {ops.ok ? (
        <OperationsLive
          initial={ops.value}
          empty={{
            title: 'No operations yet',
            body: (
              <p>
                Every change — seeding a cluster, cloning, merging, a host coming online — is recorded here with who did it. Seed a cluster
                to see the first ones.
              </p>
            ),
          }}
        />
      ) : (
        <ErrorBanner title="Could not load the operations." message={ops.error.message} />
      )}
    </>
  );
}
