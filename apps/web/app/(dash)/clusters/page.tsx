// Cluster View, the list: every cluster, running first.
import type { Metadata } from 'next';
import Link from 'next/link';
import { ClusterList } from '../../../components/clusters/cluster-list.tsx';
import { OperateOnly } from '../../../components/session.tsx';
import { ErrorBanner, PageHeading } from '../../../components/ui.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Clusters — SFDashBoard' };

export default async function ClustersPage() {
  const clusters = await loadForPage('/clusters', async (c) => ({
    clusters: await c.cluster.list.query(),
    domains: await c.state.domains.query({ all: false }),
  }));
  return (
    <>
      <PageHeading
        title="Clusters"
        subtitle="Each cluster is a master VM and the clones it made of itself."
        actions={
          <OperateOnly>
            <Link href="/seed" className="button button--primary">
              Seed a cluster
            </Link>
          </OperateOnly>
        }
      />
      {clusters.ok ? (
        <ClusterList initial={clusters.value} />
      ) : (
        <ErrorBanner title="Could not load the clusters." message={clusters.error.message} />
      )}
    </>
  );
}
