// Human-readable progress goes to stderr so that `--json` keeps stdout for the report alone.
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`${message}\n`),
  warn: (message) => process.stderr.write(`warning: ${message}\n`),
  error: (message) => process.stderr.write(`error: ${message}\n`),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
