// A cluster as a tree: the master (vmid 0) at the root, then one branch per ticket with its clones
// (vmid, host, state, IP, NIC bytes, disk image and bytes, vCPUs, memory, data-plane figures) and whatever of its allocation map is
// still only reserved. Buttons raise intents; the page decides (and confirms) what happens.
import { formatDomainRef } from '@snowflock/daemon/domain-ref';
import type { Branch, ClusterTree, DomainNode } from '../../lib/cluster-tree.ts';
import { DISK_BLOCK_BYTES, diskFor, type DiskMap } from '../../lib/disk-figures.ts';
import { figuresFor, nicFor, type FigureMap, type FigureView, type NicMap } from '../../lib/figures.ts';
import { formatBytes, formatCount, formatRate, shortId } from '../../lib/format.ts';
import { useCanOperate } from '../session.tsx';
import { Time } from '../time-zone.tsx';
import { StateBadge } from '../ui.tsx';

export interface TreeIntents {
  console(vmid: number): void;
  kill(vmid: number): void;
  merge(ticket: string, clones: number): void;
}

export function DomainTree({
  tree,
  figures,
  nics,
  disks,
  intents,
  busy,
  consoleVmid,
}: {
  tree: ClusterTree;
  figures: FigureMap;
  nics: NicMap;
  disks: DiskMap;
  intents: TreeIntents;
  busy: boolean;
  consoleVmid: number | null;
}) {
  return (
    <div data-testid="cluster-tree">
      <ul className="tree">
        {tree.master && (
          <li>
            <NodeRow
              node={tree.master}
              figures={null}
              nics={nics}
              disks={disks}
              intents={intents}
              busy={busy}
              master
              consoleOpen={consoleVmid === 0}
            />
            {(tree.branches.length > 0 || tree.strays.length > 0) && (
              <ul>
                {tree.branches.map((b) => (
                  <BranchView
                    key={b.ticket.ticket}
                    branch={b}
                    figures={figures}
                    nics={nics}
                    disks={disks}
                    intents={intents}
                    busy={busy}
                    consoleVmid={consoleVmid}
                  />
                ))}
                {tree.strays.map((n) => (
                  <li key={n.key}>
                    <NodeRow
                      node={n}
                      figures={null}
                      nics={nics}
                      disks={disks}
                      intents={intents}
                      busy={busy}
                      consoleOpen={consoleVmid === n.vmid}
                    />
                  </li>
                ))}
              </ul>
            )}
          </li>
        )}
      </ul>
    </div>
  );
}

function BranchView({
  branch,
  figures,
  nics,
  disks,
  intents,
  busy,
  consoleVmid,
}: {
  branch: Branch;
  figures: FigureMap;
  nics: NicMap;
  disks: DiskMap;
  intents: TreeIntents;
  busy: boolean;
  consoleVmid: number | null;
}) {
  const canOperate = useCanOperate();
  const { ticket, clones, reserved } = branch;
  const live = clones.filter((c) => c.live).length;
  return (
    <li className="tree__branch" data-testid={`branch-${ticket.ticket}`}>
      <div className="tree__branch-head">
        <span>ticket</span> <strong title={ticket.ticket}>{shortId(ticket.ticket)}</strong>
        <StateBadge state={ticket.state} />
        <span>
          {ticket.granted} of {ticket.requested} {ticket.procs ? 'processors' : 'clones'} granted · {live} live
        </span>
        {ticket.state === 'outstanding' && canOperate && (
          <button
            type="button"
            className="button button--small button--danger"
            disabled={busy}
            onClick={() => intents.merge(ticket.ticket, live)}
            data-testid={`merge-${ticket.ticket}`}
          >
            Merge clones
          </button>
        )}
      </div>
      <ul>
        {clones.map((c) => (
          <li key={c.key}>
            <NodeRow
              node={c}
              figures={c.live || figures[c.vmid] ? figuresFor(figures, c.vmid, c.host) : null}
              nics={nics}
              disks={disks}
              intents={intents}
              busy={busy}
              consoleOpen={consoleVmid === c.vmid && c.live}
            />
          </li>
        ))}
        {reserved.length > 0 && (
          <li className="muted small" style={{ padding: '0.3rem 0.2rem' }}>
            reserved, not cloned yet: {reserved.map((a) => `vmid ${a.vmid} on ${a.host}`).join(', ')}
          </li>
        )}
      </ul>
    </li>
  );
}

function NodeRow({
  node,
  figures,
  nics,
  disks,
  intents,
  busy,
  master = false,
  consoleOpen,
}: {
  node: DomainNode;
  figures: FigureView | null;
  nics: NicMap;
  disks: DiskMap;
  intents: TreeIntents;
  busy: boolean;
  master?: boolean;
  consoleOpen: boolean;
}) {
  const canOperate = useCanOperate();
  const name = formatDomainRef(node);
  const nic = nicFor(nics, node);
  const disk = diskFor(disks, node);
  return (
    <div
      className={`node${master ? ' node--master' : ''}${node.live ? '' : ' node--ended'}`}
      data-testid={`node-${name}`}
      data-state={node.state}
    >
      <span className="node__vmid" title={master ? 'the master VM' : 'a clone'}>
        {master ? '⌂ ' : ''}
        {node.vmid}
      </span>
      <span className="node__cell">
        <small>host</small>
        {node.host}
      </span>
      <span className="node__cell">
        <small>state</small>
        <StateBadge state={node.state} />
      </span>
      <span className="node__cell mono">
        <small>IP</small>
        {node.ip ?? '—'}
      </span>
      <span className="node__cell mono">
        <small>MAC</small>
        {node.mac ?? '—'}
      </span>
      <span className="node__cell" data-testid={`net-${name}`} title={nic ? (nic.live ? 'live' : 'final, as the VM ended') : undefined}>
        <small>net rx / tx</small>
        {nic ? `${formatBytes(nic.rxBytes)} / ${formatBytes(nic.txBytes)}` : '—'}
      </span>
      {disk && (
        // Live while it runs (the figure batches), final once ended: the image, bytes the VM wrote, what its overlay
        // holds on its host, and what it fetched of the fork's disk from the master's host.
        <span className="node__cell" data-testid={`disk-${name}`} title={`${disk.image}${disk.live ? '' : ' (final, as the VM ended)'}`}>
          <small>disk wr / overlay / remote</small>
          {/* The file name outside the label: the labels are set in capitals, a file name is not. */}
          {disk.name}:{' '}
          {disk.figures
            ? `${formatBytes(disk.figures.writtenBytes)} / ${formatBytes(disk.figures.overlayBytes)} / ${formatBytes(disk.figures.remoteBlocks * DISK_BLOCK_BYTES)}`
            : '—'}
        </span>
      )}
      <span className="node__cell">
        <small>vCPUs</small>
        {node.vcpus}
      </span>
      <span className="node__cell">
        <small>memory</small>
        {formatBytes(node.memory)}
      </span>
      <span className="node__cell node__figures" data-testid={`figures-${name}`}>
        <small>data plane</small>
        {figures ? (
          <>
            <b>{formatCount(figures.pagesFetched)}</b> pages fetched ({formatBytes(figures.bytesFetched)}) ·{' '}
            <b>{formatRate(figures.faultRate)}</b> faults
            {figures.faultP50Ns > 0 && <> · p50 {(figures.faultP50Ns / 1000).toFixed(1)} µs</>}
            {figures.multicastBytes !== null && <> · {formatBytes(figures.multicastBytes)} via multicast</>}
          </>
        ) : master ? (
          'master: serves its pages to clones'
        ) : node.live ? (
          'no figures yet'
        ) : (
          '—'
        )}
      </span>
      <span className="node__actions">
        <button
          type="button"
          className="button button--small"
          onClick={() => intents.console(node.vmid)}
          aria-pressed={consoleOpen}
          data-testid={`console-${name}`}
        >
          Console
        </button>
        {node.live && !master && canOperate && (
          <button
            type="button"
            className="button button--small button--danger"
            disabled={busy}
            onClick={() => intents.kill(node.vmid)}
            data-testid={`kill-${name}`}
          >
            Kill
          </button>
        )}
      </span>
      {node.ending && (
        <span className="node__ending">
          {node.ending}
          {node.endedAt ? <Time iso={node.endedAt} prefix=" · " /> : null}
        </span>
      )}
    </div>
  );
}
