#!/usr/bin/env node
// The classic `sfdoclone` tool: the same as `sf sfdoclone …`.
import { run } from './run.mjs';
await run(['sfdoclone', ...process.argv.slice(2)]);
