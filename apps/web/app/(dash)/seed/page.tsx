// Seed form: start a new cluster's master VM from an example guest or any guest ELF.
import type { Metadata } from 'next';
import { SeedForm } from '../../../components/seed/seed-form.tsx';
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
        <SeedForm initial={loaded.value} />
      ) : (
        <ErrorBanner title="Could not load the guests and hosts." message={loaded.error.message} />
      )}
    </>
  );
}
