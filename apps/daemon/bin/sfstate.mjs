#!/usr/bin/env node
// The classic `sfstate` tool: the same as `sf sfstate …`.
import { run } from './run.mjs';
await run(['sfstate', ...process.argv.slice(2)]);
