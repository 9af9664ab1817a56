'use client';
// Who is signed in, as sfmd said when the page was rendered: the token's name and role. Pages render what
// the role allows (a read token sees no seed, merge, kill or shutdown); sfmd refuses the rest anyway.
import { createContext, useContext, type ReactNode } from 'react';

export type SessionRole = 'read' | 'operate' | 'admin';
export interface SessionView {
  /** The token's name (null when sfmd could not be asked). */
  name: string | null;
  role: SessionRole;
}

const SessionContext = createContext<SessionView | null>(null);

export function SessionProvider({ value, children }: { value: SessionView; children: ReactNode }) {
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionView | null {
  return useContext(SessionContext);
}

/** Whether this session may change clusters (seed, merge, kill, shut down, type into consoles). */
export function useCanOperate(): boolean {
  const role = useSession()?.role;
  return role === 'operate' || role === 'admin';
}

/** Renders its children only for a session that may change clusters; `fallback` (if any) for the others. */
export function OperateOnly({ children, fallback = null }: { children: ReactNode; fallback?: ReactNode }) {
  return useCanOperate() ? children : fallback;
}
