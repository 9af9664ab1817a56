#!/usr/bin/env node
// The classic `sfdotix` tool: the same as `sf sfdotix …`.
import { run } from './run.mjs';
await run(['sfdotix', ...process.argv.slice(2)]);
