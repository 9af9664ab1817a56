#!/usr/bin/env node
// `sf COMMAND …`: the one entry point of Snowflock's command-line tools.
import { run } from './run.mjs';
await run(process.argv.slice(2));
