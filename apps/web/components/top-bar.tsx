'use client';
// The dashboard's top bar: the name, the views (the current one marked; Seed only for tokens that may
// seed), the live feed's state in words, who is signed in with which role, and sign out. On a phone the
// views wrap below the name.
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useFeedStatus } from './live-feed.tsx';
import { TimeZoneToggle } from './time-zone.tsx';
import { useCanOperate, useSession } from './session.tsx';

const VIEWS = [
  { href: '/hosts', label: 'Hosts' },
  { href: '/clusters', label: 'Clusters' },
  { href: '/seed', label: 'Seed', operate: true },
  { href: '/operations', label: 'Operations' },
];

const FEED_TEXT = { connecting: 'connecting…', live: 'live', 'sfmd-down': 'sfmd unreachable', offline: 'reconnecting…' } as const;

export function TopBar() {
  const path = usePathname();
  const feed = useFeedStatus();
  const session = useSession();
  const canOperate = useCanOperate();
  return (
    <header className="topbar" data-role={session?.role}>
      <Link href="/hosts" className="brand">
        <span aria-hidden="true">❄</span> SFDashBoard
      </Link>
      <nav className="views" aria-label="views">
        {VIEWS.filter((v) => !v.operate || canOperate).map((v) => (
          <Link key={v.href} href={v.href} className="views__link" aria-current={path.startsWith(v.href) ? 'page' : undefined}>
            {v.label}
          </Link>
        ))}
      </nav>
      <div className="topbar__end">
        <span
          className={`feed feed--${feed.state}`}
          data-testid="feed-status"
          data-state={feed.state}
          title={feed.message ?? 'live updates from sfmd'}
        >
          <span className="feed__dot" aria-hidden="true" />
          {FEED_TEXT[feed.state]}
        </span>
        <TimeZoneToggle />
        {session?.name && (
          <span className="topbar__who" data-testid="session-who" data-role={session.role} title={`signed in with token '${session.name}'`}>
            {session.name} · {session.role}
          </span>
        )}
        <SignOut />
      </div>
    </header>
  );
}

function SignOut() {
  return (
    <button
      type="button"
      className="button button--quiet"
      onClick={async () => {
        await fetch('/api/session', { method: 'DELETE' }).catch(() => {});
        window.location.assign('/signin');
      }}
    >
      Sign out
    </button>
  );
}

/** When sfmd is unreachable, every page says so at the top (the data below is the last known). */
export function FeedBanner() {
  const feed = useFeedStatus();
  if (feed.state !== 'sfmd-down' && feed.state !== 'offline') return null;
  return (
    <div className="banner banner--warn" role="status" data-testid="feed-banner">
      <strong>Not live.</strong> {feed.message ?? 'reconnecting'} — what you see may be out of date.
    </div>
  );
}
