#!/usr/bin/env node
// The classic `sfmerge` tool: the same as `sf sfmerge …`.
import { run } from './run.mjs';
await run(['sfmerge', ...process.argv.slice(2)]);
