// Liveness probe of the dashboard process itself, polled by `sf web start`; it does not ask sfmd.
export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json({ ok: true, service: 'web' });
}
