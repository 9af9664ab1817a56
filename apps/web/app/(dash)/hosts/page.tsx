// Host View: every host with its state, resources, KVM capability, domains and live charts.
import type { Metadata } from 'next';
import { HostsLive } from '../../../components/hosts/hosts-live.tsx';
import { ErrorBanner, PageHeading } from '../../../components/ui.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Hosts — SFDashBoard' };

export default async function HostsPage() {
  const overview = await loadForPage('/hosts', (c) => c.dashboard.overview.query());
  return (
    <>
      <PageHeading
        title="Hosts"
        subtitle="Every host, what it has, what Snowflock reserved there and what runs on it. Charts show up to the last 5 minutes, live."
      />
      {overview.ok ? (
        <HostsLive initial={overview.value} />
      ) : (
        <ErrorBanner title="Could not load the hosts." message={overview.error.message} />
      )}
    </>
  );
}
