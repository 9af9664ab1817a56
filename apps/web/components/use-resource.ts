'use client';
// Page data that live events make stale: starts from what the server rendered, and `refresh()` fetches
// it again (bursts of events become one request), and once after mount. A failed refresh keeps the last
// data and says why.
import { useCallback, useEffect, useRef, useState } from 'react';
import { getJson } from './http.ts';

const DEBOUNCE_MS = 250;

export function useResource<T>(url: string, initial: T) {
  const [data, setData] = useState<T>(initial);
  const [error, setError] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const seq = useRef(0);
  const fetchNow = useCallback(async () => {
    const mine = ++seq.current;
    const result = await getJson<T>(url);
    if (mine !== seq.current) return; // a newer request was made meanwhile: its answer wins
    if (result.ok) {
      setData(result.value);
      setError(null);
    } else {
      setError(result.error.message);
    }
  }, [url]);
  const refresh = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => void fetchNow(), DEBOUNCE_MS);
  }, [fetchNow]);
  // Once after mount: events between the server render and this page's subscription to the live feed
  // (a fork takes a few ms; a page load much longer) would otherwise leave the page stale until the next one.
  useEffect(() => {
    refresh();
    return () => clearTimeout(timer.current);
  }, [refresh]);
  return { data, setData, error, refresh };
}
