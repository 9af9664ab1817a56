#!/usr/bin/env node
// The classic `sfclone` tool: the same as `sf sfclone …`.
import { run } from './run.mjs';
await run(['sfclone', ...process.argv.slice(2)]);
