import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { startSfmd } from '../apps/daemon/src/master/main.ts';
import { createLogger } from '../apps/daemon/src/common/logger.ts';
const log = createLogger('sfmd'); log.level = 'warn';
const s = await startSfmd({ home: process.env.SNOWFLOCK_HOME!, log });


process.on('SIGTERM', async () => {
  
  
  await s.stop(); process.exit(0);
});
console.log('ready');
