// Liveness probe of the dashboard process itself, polled by `sf web start`; it does not ask sfmd. `startNonce` is
// the nonce that start handed this process (SNOWFLOCK_START_NONCE): the starter checks it is talking to its own.
export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json({ ok: true, service: 'web', startNonce: process.env.SNOWFLOCK_START_NONCE ?? null });
}
