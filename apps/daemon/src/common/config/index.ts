// The config package's public face: typed loaders for sfmd.cfg, sfld.cfg and sfseed.cfg, and the safe
// Python-literal parser under them for anything else that reads the classic files.
export {
  DEFAULT_KEEP_OPERATIONS,
  DEFAULT_VXLAN_PORT,
  loadSfmdConfig,
  METRICS_ACCESS,
  MIN_KEEP_OPERATIONS,
  parseSfmdConfig,
  type ClusterHost,
  type MetricsAccess,
  type NetworkMode,
  type SfmdConfig,
  type TlsSettings,
} from './sfmd-config.ts';
export { DEFAULT_GUEST_API_PORT, DEFAULT_GUEST_CALL_RATE, loadSfldConfig, parseSfldConfig, type SfldConfig } from './sfld-config.ts';
export { DEFAULT_RATE_LIMITS, type RateLimits } from './rate-limit-settings.ts';
export {
  ALLOCATOR_NAMES,
  DEFAULT_SCHEDULER_SETTINGS,
  nodeNameOf,
  type AllocatorName,
  type SchedulerSettings,
} from './scheduler-settings.ts';
export { loadSfseedConfig, parseSfseedConfig, type SfseedConfig } from './sfseed-config.ts';
export { checkDiskImage, MAX_DISK_IMAGE_BYTES } from './disk-image.ts';
export {
  PY_LIMITS,
  formatPath,
  lineOfChild,
  parsePyLiteralFile,
  type PyAssignment,
  type PyDict,
  type PyValue,
} from './pyliteral.ts';
