// Small building blocks every page uses: state badges with one colour per meaning, empty states that
// say what to do, error banners that say what happened, and the page heading.
import type { ReactNode } from 'react';
import type { AnyState } from '@snowflock/daemon/states';

// Every state has its tone: a state added to sfmd's lists does not compile here until it has one.
const TONES: Record<AnyState, 'ok' | 'warn' | 'bad' | 'idle' | 'busy'> = {
  online: 'ok',
  running: 'ok',
  succeeded: 'ok',
  unused: 'idle',
  outstanding: 'busy',
  booting: 'busy',
  defined: 'busy',
  cloning: 'busy',
  paused: 'warn',
  offline: 'bad',
  lost: 'bad',
  crashed: 'bad',
  failed: 'bad',
  halted: 'bad',
  exited: 'idle',
  merged: 'idle',
  stopped: 'idle',
  shutdown: 'idle',
  removed: 'idle',
  disposed: 'idle',
};

/** `null`: the state is not known (its record could not be read). */
export function StateBadge({ state, label }: { state: AnyState | null; label?: string }) {
  return (
    <span className={`badge badge--${state ? TONES[state] : 'idle'}`} data-state={state ?? 'unknown'}>
      {label ?? state ?? 'unknown'}
    </span>
  );
}

export function EmptyState({ title, children }: { title: string; children: ReactNode }) {
  return (
    <div className="empty" role="status">
      <p className="empty__title">{title}</p>
      <div className="empty__body">{children}</div>
    </div>
  );
}

export function ErrorBanner({ title, message, children }: { title: string; message: string; children?: ReactNode }) {
  return (
    <div className="banner banner--error" role="alert">
      <strong>{title}</strong> <span>{message}</span>
      {children}
    </div>
  );
}

export function PageHeading({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="page-heading">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="page-heading__sub">{subtitle}</p>}
      </div>
      {actions && <div className="page-heading__actions">{actions}</div>}
    </div>
  );
}

/** A labelled bar: `used` of `total`, with an optional second, lighter part (e.g. reserved vs in use). */
export function Meter({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const pct = total > 0 ? Math.min(100, Math.max(0, (used / total) * 100)) : 0;
  return (
    <div className="meter">
      <div className="meter__top">
        <span>{label}</span>
        <span className="meter__text">{text}</span>
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: a native <meter> draws its own bar and cannot hold the styled track and fill */}
      <div className="meter__track" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={total} aria-valuenow={used}>
        <div className={`meter__fill${pct > 90 ? ' meter__fill--hot' : ''}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
