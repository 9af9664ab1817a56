// The console-only view of one domain: the terminal, full height, with a way back to its cluster.
import type { Metadata } from 'next';
import Link from 'next/link';
import { tryParseDomainRef } from '@snowflock/daemon/domain-ref';
import { ConsoleTerminal } from '../../../components/console/console-terminal.tsx';
import { EmptyState, ErrorBanner } from '../../../components/ui.tsx';
import { SessionProvider } from '../../../components/session.tsx';
import { loadForPage } from '../../../lib/server/page-data.ts';
import { sessionIdentity } from '../../../lib/server/session.ts';

export const dynamic = 'force-dynamic';

export async function generateMetadata({ params }: { params: Promise<{ domain: string }> }): Promise<Metadata> {
  return { title: `Console ${decodeURIComponent((await params).domain)} — SFDashBoard` };
}

export default async function ConsolePage({ params }: { params: Promise<{ domain: string }> }) {
  const raw = decodeURIComponent((await params).domain);
  const ref = tryParseDomainRef(raw);
  if (!ref) {
    return (
      <main className="page console-page">
        <EmptyState title={`'${raw}' is not a domain`}>
          <p>
            Name a domain CLUSTER:VMID, e.g. <Link href="/console/1:0">/console/1:0</Link>.
          </p>
        </EmptyState>
      </main>
    );
  }
  const session = await sessionIdentity(`/console/${raw}`);
  const domains = await loadForPage(`/console/${raw}`, (c) => c.state.domains.query({ all: true, clusterid: ref.clusterid }));
  const domain = domains.ok ? domains.value.filter((d) => d.vmid === ref.vmid).at(-1) : undefined;
  return (
    <main className="page console-page">
      {!domains.ok && <ErrorBanner title="Could not look the domain up." message={domains.error.message} />}
      {domains.ok && !domain ? (
        <EmptyState title={`There is no domain ${raw}`}>
          <p>
            See <Link href={`/clusters/${ref.clusterid}`}>cluster {ref.clusterid}</Link> for its domains.
          </p>
        </EmptyState>
      ) : (
        <SessionProvider value={session}>
          <ConsoleTerminal
            clusterid={ref.clusterid}
            vmid={ref.vmid}
            state={domain?.state ?? null}
            tall
            actions={
              <Link href={`/clusters/${ref.clusterid}`} className="button button--small">
                Cluster {ref.clusterid}
              </Link>
            }
          />
        </SessionProvider>
      )}
    </main>
  );
}
