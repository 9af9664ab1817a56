// The systemd units of sfmd, sfld and the dashboard: each runs its `sf … start --foreground` with the data
// directory in its environment, logs to journald (the daemons see JOURNAL_STREAM and write JSON lines to
// stdout) and is restarted when it fails. Pure text: writing the files is install-units' job.

export interface UnitOptions {
  /** The node binary and sf.mjs, absolute. */
  node: string;
  sfBin: string;
  /** The data directory (SNOWFLOCK_HOME), absolute. */
  home: string;
  /** Who runs sfmd and the dashboard; null: root. sfld runs as root (bridges, taps, nftables, /dev/kvm). */
  user: string | null;
  /** The dashboard's port. */
  webPort: number;
}

export interface Unit {
  /** e.g. 'snowflock-sfmd.service'. */
  file: string;
  text: string;
}

/**
 * One ExecStart word: quoted when it holds what systemd would split or expand (spaces, quotes, backslashes,
 * `$` and `%` specifiers), with `%` doubled and `$` doubled so they stay literal.
 */
export function execWord(word: string): string {
  const literal = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(literal)) return literal;
  return `"${literal.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A value of Environment=: the whole assignment quoted, `%` doubled. */
function environment(name: string, value: string): string {
  return `"${`${name}=${value}`.replace(/%/g, '%%').replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

interface ServiceSpec {
  name: 'sfmd' | 'sfld' | 'web';
  description: string;
  args: string[];
  user: string | null;
  after: string[];
  wants: string[];
  /** How long a stop may take before SIGKILL: sfld destroys its VMs first. */
  stopTimeoutS: number;
  /** `sf web` forwards SIGTERM to its Next.js child: signal the main process only, the rest after the timeout. */
  killMode?: 'mixed';
}

function service(o: UnitOptions, s: ServiceSpec): Unit {
  const lines = [
    `# Written by sf install-units: ${s.description}.`,
    '# Re-run sf install-units to change it; local tweaks belong in a drop-in (systemctl edit).',
    '[Unit]',
    `Description=Snowflock ${s.description}`,
    ...(s.after.length ? [`After=${s.after.join(' ')}`] : []),
    ...(s.wants.length ? [`Wants=${s.wants.join(' ')}`] : []),
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[o.node, o.sfBin, ...s.args, '--home', o.home].map(execWord).join(' ')}`,
    `Environment=${environment('SNOWFLOCK_HOME', o.home)}`,
    ...(s.user ? [`User=${s.user}`] : []),
    `SyslogIdentifier=snowflock-${s.name}`,
    'Restart=on-failure',
    'RestartSec=2',
    `TimeoutStopSec=${s.stopTimeoutS}`,
    ...(s.killMode ? [`KillMode=${s.killMode}`] : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return { file: `snowflock-${s.name}.service`, text: lines.join('\n') };
}

/** The three units. sfld starts after sfmd when both are on this machine, and does without it elsewhere. */
export function snowflockUnits(o: UnitOptions): Unit[] {
  const network = ['network-online.target'];
  return [
    service(o, {
      name: 'sfmd',
      description: 'master daemon (sfmd)',
      args: ['sfmd', 'start', '--foreground'],
      user: o.user,
      after: network,
      wants: network,
      stopTimeoutS: 30,
    }),
    service(o, {
      name: 'sfld',
      description: 'local daemon (sfld)',
      args: ['sfld', 'start', '--foreground'],
      user: null,
      after: [...network, 'snowflock-sfmd.service'],
      wants: network,
      stopTimeoutS: 60,
    }),
    service(o, {
      name: 'web',
      description: 'dashboard (SFDashBoard)',
      args: ['web', 'start', '--foreground', '--port', String(o.webPort)],
      user: o.user,
      after: [...network, 'snowflock-sfmd.service'],
      wants: network,
      stopTimeoutS: 15,
      killMode: 'mixed',
    }),
  ];
}
