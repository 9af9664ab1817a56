import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingToolsMessage, onPath } from './preflight.mjs';

test('no message when g++, make and python3 are all there', () => {
  assert.equal(
    missingToolsMessage(() => true),
    null,
  );
});

test('one sentence names every missing tool and the apt-get line that installs them', () => {
  const message = missingToolsMessage((command) => command === 'make');
  assert.match(message, /^snowflock: g\+\+ and python3 are missing \(.*\); install them with: sudo apt-get install g\+\+ python3$/);
  assert.match(
    missingToolsMessage((command) => command !== 'make'),
    /make is missing .* install it with: sudo apt-get install make$/,
  );
});

test('onPath finds executables only on the given PATH', () => {
  assert.equal(onPath('node', '/nonexistent'), false);
  assert.equal(onPath('sh', '/bin:/usr/bin'), true);
});
