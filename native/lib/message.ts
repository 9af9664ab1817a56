// messageOf(): the text of anything thrown, for logs and error replies. Dependency-free on purpose:
// the daemon, the CLIs and the dashboard's browser code all import it (the dashboard through @snowflock/daemon/errors).
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
