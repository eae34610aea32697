// Shared by the config tests: the ConfigError a run throws, or a failure when it throws none.
import { ConfigError } from "../../src/config/index.js";

export function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}
