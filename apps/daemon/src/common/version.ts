// The Snowflock version reported by /healthz, registration and the CLIs.
export const SNOWFLOCK_VERSION = '0.1.0';
