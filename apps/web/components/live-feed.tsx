'use client';
// The page's one live connection: an EventSource on /api/live (this dashboard's server relays sfmd's
// hub), shared by every component through useLive. It reconnects by itself; a lost session goes to sign in.
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { LIVE_EVENTS, type LiveEventMap, type LiveEventName } from '../lib/api-types.ts';

export type FeedState = 'connecting' | 'live' | 'sfmd-down' | 'offline';
export interface FeedStatusView {
  state: FeedState;
  message: string | null;
}

type Handler<K extends LiveEventName> = (payload: LiveEventMap[K]) => void;

class Bus {
  readonly #handlers = new Map<LiveEventName, Set<(payload: unknown) => void>>();
  on<K extends LiveEventName>(name: K, handler: Handler<K>): () => void {
    const set = this.#handlers.get(name) ?? new Set();
    this.#handlers.set(name, set);
    const h = handler as (payload: unknown) => void;
    set.add(h);
    return () => set.delete(h);
  }
  emit(name: LiveEventName, payload: unknown): void {
    for (const h of this.#handlers.get(name) ?? []) h(payload);
  }
}

const LiveContext = createContext<{ bus: Bus; status: FeedStatusView } | null>(null);

const RETRY_MS = 3000;

export function LiveFeedProvider({ children }: { children: ReactNode }) {
  const [bus] = useState(() => new Bus());
  const [status, setStatus] = useState<FeedStatusView>({ state: 'connecting', message: null });
  useEffect(() => {
    let source: EventSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const open = () => {
      source = new EventSource('/api/live');
      for (const name of LIVE_EVENTS) {
        source.addEventListener(name, (e) => {
          const payload = JSON.parse((e as MessageEvent<string>).data) as unknown;
          if (name === 'feed:status') setStatus(payload as FeedStatusView);
          if (name === 'session:ended') {
            // The token opens nothing any more: what the page shows would only go stale.
            stopped = true;
            source?.close();
            window.location.assign(`/signin?expired=1&next=${encodeURIComponent(window.location.pathname)}`);
            return;
          }
          bus.emit(name, payload);
        });
      }
      source.onerror = () => {
        if (!source || source.readyState !== EventSource.CLOSED) {
          setStatus({ state: 'offline', message: 'the dashboard server is not answering; reconnecting' });
          return;
        }
        // Closed for good (an error answer): find out whether the session is gone before retrying.
        source.close();
        void fetch('/api/session', { cache: 'no-store' })
          .then((r) => r.json() as Promise<{ signedIn?: boolean }>)
          .then(
            (s) => {
              if (!s.signedIn) window.location.assign(`/signin?expired=1&next=${encodeURIComponent(window.location.pathname)}`);
            },
            () => {},
          )
          .finally(() => {
            setStatus({ state: 'offline', message: 'the live feed stopped; reconnecting' });
            if (!stopped) retry = setTimeout(open, RETRY_MS);
          });
      };
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, [bus]);
  return <LiveContext.Provider value={{ bus, status }}>{children}</LiveContext.Provider>;
}

/** Calls `handler` for each live event `name`; the latest handler is used without resubscribing. */
export function useLive<K extends LiveEventName>(name: K, handler: Handler<K>): void {
  const ctx = useContext(LiveContext);
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => ctx?.bus.on(name, (p) => ref.current(p)), [ctx, name]);
}

export function useFeedStatus(): FeedStatusView {
  return useContext(LiveContext)?.status ?? { state: 'connecting', message: null };
}
