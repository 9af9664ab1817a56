// `sf install-units`: writes systemd units for sfmd, sfld and the dashboard (systemd-units.ts) into
// /etc/systemd/system or --prefix DIR, for this install of Snowflock and this data directory.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SfError } from '../../common/errors.ts';
import { DEFAULT_WEB_PORT } from '../../common/ports.ts';
import type { Command } from '../command.ts';
import { SF_BIN } from '../daemon-control.ts';
import { snowflockUnits } from '../systemd-units.ts';

export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

export const installUnits: Command = {
  name: 'install-units',
  summary: 'Write systemd units for sfmd, sfld and the dashboard (logs go to journald).',
  usage: 'sf install-units [--prefix DIR] [--user U] [--web-port N]',
  description:
    `Writes snowflock-sfmd.service, snowflock-sfld.service and snowflock-web.service into ${SYSTEM_UNIT_DIR} (or DIR).\n` +
    'Each runs this install of sf with the data directory (--home or $SNOWFLOCK_HOME) and restarts on failure; under\n' +
    'systemd the daemons log JSON lines to journald (journalctl -u snowflock-sfmd). sfmd and the dashboard run as\n' +
    '--user (default root); sfld runs as root (it builds bridges and taps and opens /dev/kvm).\n' +
    'Then: systemctl daemon-reload && systemctl enable --now snowflock-sfmd snowflock-sfld snowflock-web',
  options: {
    prefix: { type: 'string', value: 'DIR', description: `where the unit files go (default ${SYSTEM_UNIT_DIR})` },
    user: { type: 'string', value: 'U', description: 'the user sfmd and the dashboard run as (default root)' },
    'web-port': { type: 'string', value: 'N', description: `the dashboard's port (default ${DEFAULT_WEB_PORT})` },
  },
  examples: [
    'sudo sf install-units',
    'sudo sf install-units --user snowflock --home /var/lib/snowflock',
    'sf install-units --prefix ./units',
  ],
  async run(ctx, _args, values) {
    const user = typeof values.user === 'string' ? values.user : null;
    // A name systemd takes as User= (or a numeric id): nothing that could end the line or start another.
    if (user !== null && !/^(?:[a-z_][a-z0-9_-]{0,31}|\d+)$/i.test(user)) {
      throw new SfError('BAD_INPUT', `--user must be a user name or id, got '${user}'`);
    }
    const webPort = typeof values['web-port'] === 'string' ? Number(values['web-port']) : DEFAULT_WEB_PORT;
    if (!Number.isInteger(webPort) || webPort < 1 || webPort > 65535) {
      throw new SfError('BAD_INPUT', `--web-port must be 1..65535, got '${values['web-port']}'`);
    }
    const dir = path.resolve(typeof values.prefix === 'string' ? values.prefix : SYSTEM_UNIT_DIR);
    const units = snowflockUnits({ node: process.execPath, sfBin: SF_BIN, home: path.resolve(ctx.paths.home), user, webPort });
    try {
      mkdirSync(dir, { recursive: true });
      for (const unit of units) writeFileSync(path.join(dir, unit.file), unit.text, { mode: 0o644 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SfError(
        code === 'EACCES' || code === 'EPERM' ? 'FORBIDDEN' : 'UNAVAILABLE',
        `cannot write the units into ${dir}: ${(err as Error).message}` +
          (code === 'EACCES' || code === 'EPERM' ? ' (run it with sudo, or pass --prefix DIR)' : ''),
      );
    }
    const files = units.map((u) => path.join(dir, u.file));
    ctx.out.result({ dir, files, user: user ?? 'root', home: ctx.paths.home }, () =>
      [
        ...files.map((f) => `wrote ${f}`),
        dir === SYSTEM_UNIT_DIR
          ? 'now: systemctl daemon-reload && systemctl enable --now snowflock-sfmd snowflock-sfld snowflock-web'
          : `copy them to ${SYSTEM_UNIT_DIR} (or link them with systemctl link), then systemctl daemon-reload`,
      ].join('\n'),
    );
  },
};
