#!/usr/bin/env node
// The classic `sfmpirun` tool: the same as `sf mpirun …`.
import { run } from './run.mjs';
await run(['mpirun', ...process.argv.slice(2)]);
