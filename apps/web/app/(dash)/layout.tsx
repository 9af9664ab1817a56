// The signed-in shell of every view: who is signed in (and so what may be done), top bar, the live feed
// every component listens to, and the page. Without a session sfmd takes, nothing here renders: off to sign in.
import type { ReactNode } from 'react';
import { LiveFeedProvider } from '../../components/live-feed.tsx';
import { TimeZoneProvider } from '../../components/time-zone.tsx';
import { FeedBanner, TopBar } from '../../components/top-bar.tsx';
import { SessionProvider } from '../../components/session.tsx';
import { sessionIdentity } from '../../lib/server/session.ts';

export const dynamic = 'force-dynamic';

export default async function DashLayout({ children }: { children: ReactNode }) {
  const session = await sessionIdentity('/hosts');
  return (
    <SessionProvider value={session}>
      <LiveFeedProvider>
        <TimeZoneProvider>
          <TopBar />
          <main className="page">
            <FeedBanner />
            {children}
          </main>
        </TimeZoneProvider>
      </LiveFeedProvider>
    </SessionProvider>
  );
}
