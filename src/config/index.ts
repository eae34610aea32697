export { DURATION_EXPECTED, MAX_DURATION_S, parseDuration } from "./duration.js";
export { ConfigError, type ConfigIssue, formatIssue } from "./errors.js";
export {
  type ConfigOptions,
  configFromOverrides,
  findConfig,
  findRunConfig,
  loadConfig,
  parseConfig,
  type RunSettings,
} from "./load.js";
export { type ConfigOverrides, OVERRIDE_KEYS, type OverrideLabel } from "./overrides.js";
export { DEFAULTS, servedModelName } from "./resolve.js";
export type { ModelshipConfig } from "./types.js";
