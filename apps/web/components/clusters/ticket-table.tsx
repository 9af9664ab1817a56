// A cluster's tickets (several may be out at once): state (unused → outstanding → merged, or disposed), how
// much was asked and granted, when it was granted and ended, and the allocation map (which vmid goes to which host with how many processors).
import type { TicketInfo } from '../../lib/api-types.ts';
import { formatBytes, shortId } from '../../lib/format.ts';
import { Time } from '../time-zone.tsx';
import { EmptyState, StateBadge } from '../ui.tsx';

export function TicketTable({
  tickets,
  busy,
  onMerge,
}: {
  tickets: TicketInfo[];
  busy: boolean;
  onMerge(ticket: string, clones: number): void;
}) {
  if (tickets.length === 0) {
    return (
      <EmptyState title="No tickets yet">
        <p>
          A ticket reserves resources for clones. The guest asks for one with <code>sf_request_ticket</code> (the examples do with{' '}
          <code>clones=N</code> in their args), or <code>npx sfdotix N --domain CLUSTER:0</code>.
        </p>
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table" data-testid="ticket-table">
        <thead>
          <tr>
            <th>ticket</th>
            <th>state</th>
            <th>granted</th>
            <th>when</th>
            <th>allocation map</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tickets.map((t) => (
            <tr key={t.ticket} data-testid={`ticket-${t.ticket}`}>
              <td className="mono" title={t.ticket}>
                {shortId(t.ticket)}
              </td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td>
                {t.granted} of {t.requested} {t.procs ? 'processors' : 'clones'}
              </td>
              <td>
                <Time iso={t.createdAt} />
                {t.endedAt ? <Time iso={t.endedAt} prefix=" – " /> : null}
              </td>
              <td>
                <div className="alloc">
                  {t.allocations.length === 0 ? (
                    <span>none</span>
                  ) : (
                    t.allocations.map((a) => (
                      <span key={a.vmid} title={`${formatBytes(a.memory)}`}>
                        vmid {a.vmid} → {a.host} · {a.processors} cpu
                      </span>
                    ))
                  )}
                </div>
              </td>
              <td style={{ textAlign: 'right' }}>
                {t.state === 'outstanding' && (
                  <button
                    type="button"
                    className="button button--small button--danger"
                    disabled={busy}
                    onClick={() => onMerge(t.ticket, t.allocations.length)}
                  >
                    Merge
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
