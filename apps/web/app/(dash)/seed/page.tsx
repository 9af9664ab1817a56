// Seed form: start a new cluster's master VM from an example guest or any guest ELF.
import type { Metadata } from 'next';
import { SeedForm } from '../../../components/seed/seed-form.tsx';
import { OperateOnly } from '../../../components/session.tsx';
import { ErrorBanner, PageHeading } from '../../../components/ui.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Seed — SFDashBoard' };

export default async function SeedPage() {
  const loaded = await loadForPage('/seed', async (c) => ({
    guests: await c.dashboard.guests.query(),
    hosts: await c.state.hosts.query(),
  }));
  return (
    <>
      <PageHeading
        title="Seed a cluster"
        subtitle="Boot a master VM. If its guest asks for clones, they appear in the Cluster View as it makes them."
      />
      {loaded.ok ? (
        <OperateOnly
          fallback={
            <div className="banner banner--warn" role="status" data-testid="read-only">
              This session&apos;s token has role read: it may look at everything but not seed. Sign in with an operate token (
              <code>sf token create NAME --role operate</code>) to seed clusters.
            </div>
          }
        >
          <SeedForm initial={loaded.value} />
        </OperateOnly>
      ) : (
        <ErrorBanner title="Could not load the guests and hosts." message={loaded.error.message} />
      )}
    </>
  );
}
