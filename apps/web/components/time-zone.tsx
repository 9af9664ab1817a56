'use client';
// Which zone the dashboard's times are in (the viewer's or UTC), kept in localStorage and shared by every
// tab, and <Time>, the one way a time is shown: text from formatWhen, the exact ISO moment in its title.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { formatWhen, type TimeZoneChoice } from '../lib/format.ts';

const STORAGE_KEY = 'sfdash.timezone';

interface TimeZoneState {
  zone: TimeZoneChoice;
  /** False until the browser's choice is read: until then every <Time> renders the same text as the server did. */
  ready: boolean;
  setZone(zone: TimeZoneChoice): void;
}

// Outside a provider (e.g. a page without the top bar) times are simply local.
const TimeZoneContext = createContext<TimeZoneState>({ zone: 'local', ready: true, setZone: () => {} });

function stored(): TimeZoneChoice {
  try {
    return window.localStorage.getItem(STORAGE_KEY) === 'utc' ? 'utc' : 'local';
  } catch {
    return 'local'; // storage refused (private mode, policy): the default still works
  }
}

export function TimeZoneProvider({ children }: { children: ReactNode }) {
  const [zone, setZoneState] = useState<TimeZoneChoice>('local');
  const [ready, setReady] = useState(false);
  useEffect(() => {
    setZoneState(stored());
    setReady(true);
    // Another tab changed it: follow, so two tabs never disagree about what a time means.
    const onStorage = (e: StorageEvent) => e.key === STORAGE_KEY && setZoneState(stored());
    window.addEventListener('storage', onStorage);
    return () => window.removeEventListener('storage', onStorage);
  }, []);
  const setZone = useCallback((next: TimeZoneChoice) => {
    setZoneState(next);
    try {
      window.localStorage.setItem(STORAGE_KEY, next);
    } catch {
      /* not persisted; this page still switches */
    }
  }, []);
  return <TimeZoneContext.Provider value={{ zone, ready, setZone }}>{children}</TimeZoneContext.Provider>;
}

export function useTimeZone(): TimeZoneState {
  return useContext(TimeZoneContext);
}

/**
 * A moment as the dashboard writes it. Before the browser's zone choice is known it is the full UTC
 * date, which server and browser render alike (no hydration mismatch), then the viewer's choice.
 */
export function Time({ iso, prefix = '' }: { iso: string; prefix?: string }) {
  const { zone, ready } = useTimeZone();
  const text = ready ? formatWhen(iso, zone, Date.now()) : formatWhen(iso, 'utc', null);
  return (
    <time dateTime={iso} title={iso} data-zone={ready ? zone : 'pending'}>
      {prefix}
      {text}
    </time>
  );
}

/** The top bar's switch between local and UTC times; pressed means UTC. */
export function TimeZoneToggle() {
  const { zone, setZone } = useTimeZone();
  const utc = zone === 'utc';
  return (
    <button
      type="button"
      className="button button--quiet button--small"
      aria-pressed={utc}
      data-testid="utc-toggle"
      title={utc ? 'Times are in UTC: press to show them in your time zone' : 'Times are in your time zone: press to show them in UTC'}
      onClick={() => setZone(utc ? 'local' : 'utc')}
    >
      UTC
    </button>
  );
}
