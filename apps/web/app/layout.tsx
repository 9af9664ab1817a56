// Root layout of SFDashBoard: document shell, page title and the global stylesheet.
import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import './globals.css';

export const metadata: Metadata = {
  title: 'SFDashBoard — Snowflock',
  description: 'The Snowflock dashboard: hosts, impromptu clusters and their clones.',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
