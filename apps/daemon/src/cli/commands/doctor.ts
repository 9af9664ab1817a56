// sf doctor: asks sfmd to compare its record with what the sflds run (and with its own rules), prints the
// differences, and with --repair has sfmd mend them. Its exit status says whether anything is left to repair.
import type { DoctorReport, Finding } from '../../master/doctor.ts';
import { call } from '../../common/sfmd-client.ts';
import type { Command } from '../command.ts';
import { renderTable } from '../output.ts';

/** Exit status when differences were found and are not (all) repaired: apart from every error code's. */
export const DOCTOR_DIFFERENCES_EXIT = 20;

function findingsTable(findings: readonly Finding[], repaired: boolean): string {
  return renderTable(findings, [
    { header: 'FINDING', value: (f) => f.kind },
    { header: 'SUBJECT', value: (f) => f.subject },
    { header: 'HOST', value: (f) => f.host },
    { header: 'RECORDED', value: (f) => f.recorded },
    { header: 'ACTUAL', value: (f) => f.actual },
    repaired
      ? { header: 'REPAIRED', value: (f) => (f.repaired ? `yes: ${f.repair}` : `FAILED (${f.error}): ${f.repair}`) }
      : { header: 'REPAIR', value: (f) => f.repair },
  ]);
}

function human(report: DoctorReport): string {
  const checked = report.hosts.filter((h) => h.checked).length;
  const agree = `record and hosts agree: ${checked} host${checked === 1 ? '' : 's'} checked, ${report.domains} domain${report.domains === 1 ? '' : 's'}`;
  const notChecked = report.hosts.filter((h) => !h.checked).map((h) => `not checked: host ${h.name} (${h.note})`);
  const lines: string[] = [];
  if (report.findings.length === 0) lines.push(agree);
  else if (!report.repair) {
    lines.push(findingsTable(report.findings, false), '');
    lines.push(`${report.findings.length} difference(s) between the record and the hosts: sf doctor --repair mends them`);
  } else {
    lines.push(findingsTable(report.findings, true), '');
    const after = report.after ?? [];
    lines.push(
      after.length === 0
        ? `repaired ${report.findings.length} difference(s) (operation ${report.operation}); ${agree}`
        : `after repair ${after.length} difference(s) remain (operation ${report.operation}):\n${findingsTable(after, false)}`,
    );
  }
  return [...lines, ...notChecked].join('\n');
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'Check that the record agrees with the VMs the hosts run; --repair mends what differs.',
  usage: 'sf doctor [--repair] [--json]',
  description: [
    'sfmd asks the sfld of every online, connected host which VMs it runs (read-only) and compares that with its',
    'record; it also checks the record against itself: domains live on offline hosts, clusters running after',
    'their master ended, ended clusters with live domains or open tickets, outstanding tickets nobody can merge.',
    'Hosts that are offline or not connected are listed as not checked (they are not a difference).',
    '',
    'Each finding names the domain (CLUSTER:VMID), cluster or ticket, what the record says, what is so, and',
    'the repair: the record follows a VM that is gone (crashed, with the reason) or changed state; a VM the record',
    'says ended (or does not know) is destroyed on its host; what an end left behind is ended as that end would',
    'have. --repair runs these as one operation (kind doctor.repair, see sf ops) and checks again.',
    '',
    'A difference counts only if a second look (0.3 s later) still finds it, so changes in flight are not reported.',
    '',
    'Exit status:',
    '  0   nothing to repair (or, with --repair, everything repaired and a fresh check finds nothing)',
    `  ${DOCTOR_DIFFERENCES_EXIT}  differences found and not repaired (without --repair), or left after --repair`,
    '  other: an error (e.g. 12 sfmd unavailable, 4 no admin token); see the message on stderr',
  ].join('\n'),
  options: { repair: { type: 'boolean', description: 'mend the differences found (one doctor.repair operation), then check again' } },
  examples: ['sf doctor', 'sf doctor --repair', "sf doctor --json | jq '.findings[] | {kind, subject}'"],
  async run(ctx, _args, values) {
    const client = ctx.client();
    const report = await call(ctx.url, () => (values.repair === true ? client.doctor.repair.mutate() : client.doctor.check.query()));
    ctx.out.result(report, () => human(report));
    return report.clean ? 0 : DOCTOR_DIFFERENCES_EXIT;
  },
};
