#!/usr/bin/env node
// The classic `sfld` tool: the same as `sf sfld …`.
import { run } from './run.mjs';
await run(['sfld', ...process.argv.slice(2)]);
