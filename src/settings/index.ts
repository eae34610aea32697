// One settings parser per stage, shared by the CLI and the actions (see fields.ts and sources.ts).
export { type BenchmarkSettings, benchmarkParser, parseBenchmarkSettings } from "./benchmark.js";
export { type BuildSettings, buildParser, parseBuildSettings } from "./build.js";
export { type DeploySettings, deployParser, parseDeploySettings } from "./deploy.js";
export { type Label, SettingsError } from "./errors.js";
export {
  type Field,
  type Fields,
  flagLabel,
  inputLabel,
  type RawValue,
  type RawValues,
  type Stage,
} from "./fields.js";
export { type GateSettings, gateParser, parseGateSettings } from "./gate.js";
export type { ConfigLocator, StateLocator } from "./locator.js";
export { type PromoteSettings, parsePromoteSettings, promoteParser } from "./promote.js";
export { parseRollbackSettings, type RollbackSettings, rollbackParser } from "./rollback.js";
export { fromArgv, fromInputs, readFlags, readInputs } from "./sources.js";
export { parseStatusSettings, type StatusSettings, statusParser } from "./status.js";
export {
  parseValidateSettings,
  type ValidateSettings,
  validateParser,
  validationPolicy,
} from "./validate.js";
