// Shown while a view asks sfmd for its data (usually a few milliseconds).
export default function Loading() {
  return (
    <p className="muted" role="status" style={{ padding: '2rem 0' }}>
      Loading from sfmd…
    </p>
  );
}
