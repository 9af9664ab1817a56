// Cluster View of one cluster: tree, tickets, figures, console, operations and actions.
import type { Metadata } from 'next';
import Link from 'next/link';
import { ClusterDetail } from '../../../../components/clusters/cluster-detail.tsx';
import { EmptyState, ErrorBanner, PageHeading } from '../../../../components/ui.tsx';
import { loadForPage } from '../../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Cluster ${(await params).id} — SFDashBoard` };
}

export default async function ClusterPage({
  params,
  searchParams,
}: {
  params: Promise<{ id: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { id } = await params;
  const { console: consoleParam } = await searchParams;
  if (!/^\d{1,9}$/.test(id)) {
    return (
      <>
        <PageHeading title="No such cluster" />
        <EmptyState title={`'${id}' is not a cluster id`}>
          <p>
            Cluster ids are whole numbers. See the <Link href="/clusters">cluster list</Link>.
          </p>
        </EmptyState>
      </>
    );
  }
  const cluster = await loadForPage(`/clusters/${id}`, (c) => c.dashboard.cluster.query({ clusterid: Number(id) }));
  if (!cluster.ok) {
    return (
      <>
        <PageHeading title={`Cluster ${id}`} />
        <ErrorBanner
          title={cluster.error.code === 'CLUSTER_UNKNOWN' ? 'No such cluster.' : 'Could not load this cluster.'}
          message={cluster.error.message}
        >
          {' '}
          <Link href="/clusters">All clusters</Link>
        </ErrorBanner>
      </>
    );
  }
  const vmid = typeof consoleParam === 'string' && /^\d{1,9}$/.test(consoleParam) ? Number(consoleParam) : null;
  return <ClusterDetail initial={cluster.value} initialConsole={vmid} />;
}
