#!/usr/bin/env node
// The classic `sfseed` tool: the same as `sf sfseed …`.
import { run } from './run.mjs';
await run(['sfseed', ...process.argv.slice(2)]);
