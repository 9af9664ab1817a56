// The signed-in shell of every view: top bar, the live feed every component listens to, and the
// page. Without a session, nothing here renders: off to the sign-in page.
import type { ReactNode } from 'react';
import { LiveFeedProvider } from '../../components/live-feed.tsx';
import { FeedBanner, TopBar } from '../../components/top-bar.tsx';
import { requireToken } from '../../lib/server/session.ts';

export const dynamic = 'force-dynamic';

export default async function DashLayout({ children }: { children: ReactNode }) {
  await requireToken('/hosts');
  return (
    <LiveFeedProvider>
      <TopBar />
      <main className="page">
        <FeedBanner />
        {children}
      </main>
    </LiveFeedProvider>
  );
}
