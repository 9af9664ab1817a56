// Any address the dashboard does not have.
import Link from 'next/link';

export default function NotFound() {
  return (
    <main className="signin">
      <div className="signin__card card">
        <h1 className="signin__brand">
          <span aria-hidden="true">❄</span> Not here
        </h1>
        <p className="muted">
          The dashboard has no page at this address. Its views are <Link href="/hosts">Hosts</Link>, <Link href="/clusters">Clusters</Link>,{' '}
          <Link href="/seed">Seed</Link> and <Link href="/operations">Operations</Link>.
        </p>
      </div>
    </main>
  );
}
