'use client';
// The seed form: an example guest (or any guest ELF on the hosts), vCPUs, memory, args and a name,
// checked as you type with cluster.seed's own schema (sfmd answers field by field) and against what
// the online hosts can give right now. On success the new cluster opens with its master's console.
import { useRouter } from 'next/navigation';
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { ExampleGuest, HostInfo, SeedCheck, SeededCluster } from '../../lib/api-types.ts';
import { formatMiB } from '../../lib/format.ts';
import { byField, formIssues, seedLimits, toSeedConfig, type SeedFormValues, type SeedIssue } from '../../lib/seed-form.ts';
import { postJson } from '../http.ts';
import { useLive } from '../live-feed.tsx';
import { useResource } from '../use-resource.ts';
import { ErrorBanner } from '../ui.tsx';

const CUSTOM = '(custom)';
/** How the summary names a field (the schema's own names otherwise, e.g. diskImage). */
const FIELD_NAMES: Record<string, string> = {
  kernel: 'Kernel',
  vcpus: 'vCPUs',
  memoryMiB: 'Memory',
  name: 'Name',
  args: 'Boot arguments',
  form: 'The form',
};
const CHECK_DELAY_MS = 250;

function valuesFor(g: ExampleGuest): SeedFormValues {
  return { kernel: g.kernel, name: g.name, vcpus: String(g.vcpus), memoryMiB: String(g.memoryMiB), args: g.args };
}

export function SeedForm({ initial }: { initial: { guests: ExampleGuest[]; hosts: HostInfo[] } }) {
  const router = useRouter();
  const { data, refresh } = useResource('/api/guests', initial);
  useLive('host:state', refresh);
  useLive('domain:state', refresh);
  const first = data.guests.find((g) => g.built) ?? data.guests[0];
  const [guest, setGuest] = useState(first?.name ?? CUSTOM);
  const [values, setValues] = useState<SeedFormValues>(
    first ? valuesFor(first) : { kernel: '', name: '', vcpus: '1', memoryMiB: '64', args: '' },
  );
  const [schemaIssues, setSchemaIssues] = useState<SeedIssue[]>([]);
  const [touched, setTouched] = useState(false);
  const [submitting, setSubmitting] = useState(false);
  const [failure, setFailure] = useState<{ code: string; message: string } | null>(null);

  const limits = useMemo(() => seedLimits(data.hosts), [data.hosts]);
  const config = useMemo(() => toSeedConfig(values), [values]);
  const issues = useMemo(() => [...schemaIssues, ...formIssues(config, limits, data.hosts)], [schemaIssues, config, limits, data.hosts]);
  const fields = byField(issues);

  // The schema is sfmd's: ask it, a moment after the last keystroke; only the newest answer counts.
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    const timer = setTimeout(async () => {
      const result = await postJson<SeedCheck>('/api/seed/check', { config });
      if (mine !== seq.current) return;
      if (result.ok) setSchemaIssues(result.value.issues);
      else setSchemaIssues([{ field: 'form', message: `could not check the form: ${result.error.message}` }]);
    }, CHECK_DELAY_MS);
    return () => clearTimeout(timer);
  }, [config]);

  const chosen = data.guests.find((g) => g.name === guest) ?? null;
  const set = (key: keyof SeedFormValues) => (e: { target: { value: string } }) => {
    setTouched(true);
    setValues((v) => ({ ...v, [key]: e.target.value }));
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (issues.length > 0) return;
    setSubmitting(true);
    setFailure(null);
    const result = await postJson<SeededCluster>('/api/seed', { config });
    if (result.ok) {
      router.push(`/clusters/${result.value.clusterid}?console=0`);
      return;
    }
    setSubmitting(false);
    setFailure(result.error);
  }

  // Each field's issue is tied to its input (aria-describedby, aria-invalid); the summary above the button
  // is the one alert a screen reader announces, and links each issue to its field.
  const shown = (field: string) => (touched || field === 'form') && Boolean(fields[field]);
  const show = (field: string) =>
    shown(field) ? (
      <p className="field__error" id={`seed-${field}-issue`} data-testid={`issue-${field}`}>
        {fields[field]!.join('; ')}
      </p>
    ) : null;
  const described = (field: string, hint: boolean) => {
    const ids = [hint ? `seed-${field}-hint` : '', shown(field) ? `seed-${field}-issue` : ''].filter(Boolean).join(' ');
    return { id: `seed-${field}`, 'aria-invalid': shown(field), 'aria-describedby': ids || undefined };
  };
  const summary = Object.keys(fields).filter(shown);
  const visible = new Set(['vcpus', 'memoryMiB', 'name', 'args', ...(guest === CUSTOM ? ['kernel'] : [])]);

  return (
    <div className="seed-layout">
      <form className="card form" onSubmit={submit} noValidate data-testid="seed-form">
        {failure && <ErrorBanner title="The cluster was not seeded." message={`${failure.code}: ${failure.message}`} />}
        <fieldset className="field" style={{ border: 'none', padding: 0, margin: 0 }}>
          <legend className="field__label">Guest</legend>
          <div className="guest-list">
            {data.guests.map((g) => (
              <label key={g.name} className="guest-option" title={g.description}>
                <input
                  type="radio"
                  name="guest"
                  value={g.name}
                  checked={guest === g.name}
                  disabled={!g.built}
                  onChange={() => {
                    setGuest(g.name);
                    setValues(valuesFor(g));
                  }}
                />
                <strong>{g.name}</strong>
                <span>
                  {g.description}
                  {g.built ? '' : ' — not built yet: run npm run build'}
                </span>
              </label>
            ))}
            <label className="guest-option">
              <input
                type="radio"
                name="guest"
                value={CUSTOM}
                checked={guest === CUSTOM}
                onChange={() => {
                  setGuest(CUSTOM);
                  setValues((v) => ({ ...v, kernel: '', name: '' }));
                }}
              />
              <strong>other</strong>
              <span>any flat guest ELF: give its path on the hosts</span>
            </label>
          </div>
        </fieldset>
        {guest === CUSTOM ? (
          <label className="field">
            <span className="field__label">Kernel (guest ELF path on the hosts)</span>
            <input
              value={values.kernel}
              onChange={set('kernel')}
              placeholder="/path/to/guest.elf"
              spellCheck={false}
              {...described('kernel', false)}
            />
            {show('kernel')}
          </label>
        ) : (
          chosen && (
            <p className="field__hint" style={{ margin: 0 }}>
              Boots <code>{chosen.kernel}</code>.
            </p>
          )
        )}
        <div className="field-row">
          <label className="field">
            <span className="field__label">vCPUs</span>
            <input
              type="number"
              min={1}
              max={Math.max(1, limits.maxVcpus)}
              value={values.vcpus}
              onChange={set('vcpus')}
              {...described('vcpus', true)}
              name="vcpus"
            />
            <span className="field__hint" id="seed-vcpus-hint">
              up to {limits.maxVcpus} free on one host
            </span>
            {show('vcpus')}
          </label>
          <label className="field">
            <span className="field__label">Memory (MiB)</span>
            <input
              type="number"
              min={16}
              max={Math.max(16, limits.maxMemoryMiB)}
              step={16}
              value={values.memoryMiB}
              onChange={set('memoryMiB')}
              {...described('memoryMiB', true)}
              name="memoryMiB"
            />
            <span className="field__hint" id="seed-memoryMiB-hint">
              up to {formatMiB(limits.maxMemoryMiB)} free on one host
            </span>
            {show('memoryMiB')}
          </label>
          <label className="field">
            <span className="field__label">Name</span>
            <input
              value={values.name}
              onChange={set('name')}
              placeholder="optional"
              spellCheck={false}
              {...described('name', false)}
              name="name"
            />
            {show('name')}
          </label>
        </div>
        <label className="field">
          <span className="field__label">Boot arguments</span>
          <input
            value={values.args}
            onChange={set('args')}
            placeholder="e.g. clones=4 queries=16"
            spellCheck={false}
            {...described('args', true)}
            name="args"
          />
          <span className="field__hint" id="seed-args-hint">
            The examples take <code>clones=N</code> to clone themselves; <code>hello</code> takes <code>interactive=1</code> to echo what
            you type.
          </span>
          {show('args')}
        </label>
        {summary.length > 0 && (
          <div className="banner banner--error seed-summary" role="alert" data-testid="seed-issues">
            <strong>{summary.length === 1 ? 'One field needs' : `${summary.length} fields need`} a change before seeding:</strong>
            <ul>
              {summary.map((field) => (
                <li key={field}>
                  {visible.has(field) ? <a href={`#seed-${field}`}>{FIELD_NAMES[field] ?? field}</a> : (FIELD_NAMES[field] ?? field)}:{' '}
                  {fields[field]!.join('; ')}
                </li>
              ))}
            </ul>
          </div>
        )}
        <div>
          <button
            type="submit"
            className="button button--primary"
            disabled={submitting || (touched && issues.length > 0)}
            data-testid="seed-submit"
          >
            {submitting ? 'Seeding…' : 'Seed cluster'}
          </button>
        </div>
      </form>
      <aside className="card capacity" aria-label="capacity now">
        <h2 style={{ fontSize: '1rem' }}>Capacity now</h2>
        {limits.onlineHosts === 0 ? (
          <p className="field__error">
            No host is online: start sfld on a host listed in sfmd.cfg (<code>sfld start</code>).
          </p>
        ) : (
          <ul>
            {data.hosts
              .filter((h) => h.state === 'online')
              .map((h) => (
                <li key={h.name}>
                  <b className="mono">{h.name}</b>: {h.cpus - h.cpusUsed} of {h.cpus} vCPUs,{' '}
                  {formatMiB(Math.floor((h.ram - h.ramUsed) / 1048576))} of {formatMiB(Math.floor(h.ram / 1048576))} free
                </li>
              ))}
          </ul>
        )}
        <p className="muted small" style={{ margin: 0 }}>
          A master VM runs on one host; its clones go wherever the allocator finds room when the guest asks for a ticket.
        </p>
      </aside>
    </div>
  );
}
