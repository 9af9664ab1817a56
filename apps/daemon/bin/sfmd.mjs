#!/usr/bin/env node
// The classic `sfmd` tool: the same as `sf sfmd …`.
import { run } from './run.mjs';
await run(['sfmd', ...process.argv.slice(2)]);
