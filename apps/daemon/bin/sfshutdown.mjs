#!/usr/bin/env node
// The classic `sfshutdown` tool: the same as `sf sfshutdown …`.
import { run } from './run.mjs';
await run(['sfshutdown', ...process.argv.slice(2)]);
