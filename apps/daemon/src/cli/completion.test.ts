// The completion scripts come from the command table: bash loads what `sf completion bash` prints and
// completes commands, options, their values and arguments; zsh and fish name every command and option.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { completionScript } from './completion.ts';
import { COMMANDS } from './main.ts';

const SF = fileURLToPath(new URL('../../bin/sf.mjs', import.meta.url));

function bash(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', script], { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

test('the bash script loads from `sf completion bash` and registers sf and the classic tools', async () => {
  const out = await bash(`source <("${process.execPath}" "${SF}" completion bash) && complete -p sf sfstate sfclone`);
  assert.match(out, /-F _sf sf$/m);
  assert.match(out, /-F _sf sfstate$/m);
  assert.match(out, /-F _sf sfclone$/m);
});

test('bash completes commands, options, option values and arguments from the command table', async () => {
  const cases: [string[], string][] = [
    [['sf', 'st'], 'state'],
    [['sf', 'comp'], 'completion'],
    [['sf', 'state', '--a'], '--all'],
    [['sf', '--home', '/tmp', 'st'], 'state'], // the value of --home is not taken for the command
    [['sf', 'ops', '--format', 'y'], 'yaml'],
    [['sf', 'ops', '--fo'], '--format --follow'],
    [['sfstate', '--al'], '--all'], // a classic binary completes as its command
    [['sfmd', 'sto'], 'stop'],
    [['sf', '--json', 'sfld', 'sta'], 'start status'],
    [['sf', 'completion', 'z'], 'zsh'],
    [['sf', 'config', 'check', '--kind', 'sfs'], 'sfseed'],
  ];
  const script = [
    completionScript('bash', COMMANDS),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own ${…}, not a template
    'c() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _sf; echo "${COMPREPLY[*]}"; }',
    ...cases.map(([words]) => `c ${words.map((w) => `'${w}'`).join(' ')}`),
  ].join('\n');
  const lines = (await bash(script)).split('\n');
  for (const [i, [words, expected]] of cases.entries()) assert.equal(lines[i], expected, words.join(' '));
});

test('zsh and fish scripts name every command and option; an unknown shell is refused', () => {
  const zsh = completionScript('zsh', COMMANDS);
  const fish = completionScript('fish', COMMANDS);
  assert.match(zsh, /^#compdef sf sfmd sfld sfstate/);
  for (const c of COMMANDS) {
    assert.ok(zsh.includes(`'${c.name}:`), `zsh describes ${c.name}`);
    assert.ok(fish.includes(`-a '${c.name}'`), `fish completes ${c.name}`);
    for (const option of Object.keys(c.options ?? {})) assert.ok(fish.includes(`-l ${option}`), `fish: ${c.name} --${option}`);
  }
  assert.throws(() => completionScript('tcsh', COMMANDS), /name one of bash, zsh, fish/);
});
