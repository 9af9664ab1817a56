'use client';
// When a view fails to render: what happened, and a way to try again without losing the session.
import { ErrorBanner, PageHeading } from '../../components/ui.tsx';

export default function ViewError({ error, reset }: { error: Error & { digest?: string }; reset(): void }) {
  return (
    <>
      <PageHeading title="This view could not be shown" />
      <ErrorBanner
        title="Something went wrong."
        message={`${error.message || 'an unexpected error'}${error.digest ? ` (reference ${error.digest} in the dashboard's log)` : ''}. Try again; if it keeps failing, check that sfmd is running (sfmd status).`}
      >
        {' '}
        <button type="button" className="button button--small" onClick={reset}>
          Try again
        </button>
      </ErrorBanner>
    </>
  );
}
