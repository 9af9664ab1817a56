'use client';
// A domain's serial console in the browser (xterm.js): the recent output replayed, live output as it
// comes (server-sent events from this dashboard's server, which follows the console through sfmd),
// and keystrokes posted back to the guest's serial port. Input is off once the domain has ended.
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Terminal } from '@xterm/xterm';
import { formatDomainRef } from '@snowflock/daemon/domain-ref';
import { isLiveDomainState, type DomainState } from '@snowflock/daemon/states';
import type { DomainStateEvent } from '../../lib/api-types.ts';
import { postJson } from '../http.ts';
import { useCanOperate } from '../session.tsx';
import { StateBadge } from '../ui.tsx';

/** Keystrokes typed within this window go in one request (a paste is one request, too). */
const INPUT_BATCH_MS = 12;

type Status = { tone: 'info' | 'error'; text: string };

function decode(base64: string): Uint8Array {
  const bin = atob(base64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function ConsoleTerminal({
  clusterid,
  vmid,
  state: initialState,
  actions,
  tall = false,
}: {
  clusterid: number;
  vmid: number;
  /** `null`: not known (the domain could not be looked up); input stays off as for an ended domain. */
  state: DomainState | null;
  actions?: ReactNode;
  tall?: boolean;
}) {
  const holder = useRef<HTMLDivElement>(null);
  const [state, setState] = useState(initialState);
  const [status, setStatus] = useState<Status>({ tone: 'info', text: 'attaching…' });
  const live = state !== null && isLiveDomainState(state);
  const liveRef = useRef(live);
  liveRef.current = live;
  const canType = useCanOperate();
  const canTypeRef = useRef(canType);
  canTypeRef.current = canType;
  useEffect(() => setState(initialState), [initialState]);

  useEffect(() => {
    const name = formatDomainRef({ clusterid, vmid });
    let disposed = false;
    let term: Terminal | null = null;
    let source: EventSource | null = null;
    let observer: ResizeObserver | null = null;
    let pending = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let sending: Promise<unknown> = Promise.resolve();

    const flush = () => {
      const text = pending;
      pending = '';
      if (!text) return;
      // In order: each batch waits for the one before it.
      sending = sending.then(async () => {
        const result = await postJson(`/api/console/${name}/input`, { text });
        if (!result.ok) setStatus({ tone: 'error', text: `what you typed did not arrive: ${result.error.message}` });
      });
    };

    void (async () => {
      const [{ Terminal: XTerm }, { FitAddon }] = await Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit')]);
      if (disposed || !holder.current) return;
      term = new XTerm({
        convertEol: true,
        cursorBlink: true,
        scrollback: 5000,
        fontSize: 13,
        fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
        theme: { background: '#0f1720', foreground: '#d8e1ea', cursor: '#8cc4ff' },
      });
      const fit = new FitAddon();
      term.loadAddon(fit);
      term.open(holder.current);
      fit.fit();
      observer = new ResizeObserver(() => fit.fit());
      observer.observe(holder.current);
      term.onData((data) => {
        if (!canTypeRef.current) {
          setStatus({ tone: 'error', text: 'your token has role read: it may watch consoles, not type into them' });
          return;
        }
        if (!liveRef.current) {
          setStatus({ tone: 'error', text: 'this domain has ended: nothing reads what you type' });
          return;
        }
        pending += data;
        clearTimeout(timer);
        timer = setTimeout(flush, INPUT_BATCH_MS);
      });

      source = new EventSource(`/api/console/${name}`);
      source.addEventListener('replay', (e) => {
        // Also after a reconnect: the replay is the console's recent output in full.
        term?.reset();
        term?.write(decode(JSON.parse((e as MessageEvent<string>).data) as string));
        setStatus({ tone: 'info', text: 'attached: recent output above, new output follows' });
      });
      source.addEventListener('output', (e) => term?.write(decode(JSON.parse((e as MessageEvent<string>).data) as string)));
      source.addEventListener('domain:state', (e) => setState((JSON.parse((e as MessageEvent<string>).data) as DomainStateEvent).state));
      source.addEventListener('console:error', (e) => {
        const err = JSON.parse((e as MessageEvent<string>).data) as { code: string; message: string };
        setStatus({ tone: 'error', text: err.code === 'DOMAIN_UNKNOWN' ? `no console for ${name}: ${err.message}` : err.message });
      });
      source.onerror = () => {
        if (source?.readyState === EventSource.CLOSED)
          setStatus({ tone: 'error', text: 'the console stream closed: reload the page to attach again' });
      };
    })();
    return () => {
      disposed = true;
      clearTimeout(timer);
      source?.close();
      observer?.disconnect();
      term?.dispose();
    };
  }, [clusterid, vmid]);

  return (
    <div className="console" data-testid={`console-${clusterid}:${vmid}`} data-state={state}>
      <div className="console__bar">
        <h2>
          console {clusterid}:{vmid}
        </h2>
        <StateBadge state={state} />
        <span
          className={`console__status${status.tone === 'error' ? ' console__status--error' : ''}`}
          role="status"
          data-testid="console-status"
        >
          {live ? status.text : status.tone === 'error' ? status.text : 'this domain has ended: its last output is shown; typing is off'}
        </span>
        <span style={{ marginLeft: 'auto', display: 'flex', gap: '0.4rem' }}>{actions}</span>
      </div>
      {/* biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: a mouse shortcut to xterm's own textarea, which keyboard users tab to; keys typed there bubble through this div */}
      <div
        ref={holder}
        className={`console__term${tall ? ' console__term--tall' : ''}`}
        onClick={() => holder.current?.querySelector('textarea')?.focus()}
      />
    </div>
  );
}
