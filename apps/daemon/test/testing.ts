// The daemon's test kit for the other workspaces' end-to-end tests (`@snowflock/daemon/testing`): what they
// need to run a real one-host Snowflock, so they never reach into this folder by relative path.
export { freePort } from './free-port.ts';
export { cannotRunVms } from './guests.ts';
export { type OneHostCapacity, writeOneHostConfigs } from './one-host.ts';
