// benchmark: one load test (or a sweep) against a running endpoint, as the CLI and the action give it.
import { parseRegression } from "../bench/baseline.js";
import { LIMITS, type LoadMode, PROTOCOLS } from "../bench/options.js";
import { parseHeader, type SessionSettings } from "../bench/session.js";
import { parseSweep } from "../bench/sweep.js";
import { parseThresholds } from "../bench/thresholds.js";
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { JSON_FIELD } from "./locator.js";
import { type Reader, reader } from "./values.js";

export const BENCHMARK_FIELDS = {
  url: { type: "string" },
  protocol: { type: "string" },
  "model-name": { type: "string" },
  stream: { type: "boolean" },
  input: { type: "string" },
  template: { type: "string" },
  rows: { type: "string" },
  rate: { type: "string" },
  concurrency: { type: "string" },
  "sweep-rates": { type: "string" },
  "sweep-concurrency": { type: "string" },
  objective: { type: "string", multiple: true },
  duration: { type: "string" },
  warmup: { type: "string" },
  window: { type: "string" },
  timeout: { type: "string" },
  headers: { type: "string", multiple: true, flag: "header" },
  // The action takes the token itself (a secret); the CLI the name of a variable holding it.
  token: { type: "string", flag: false },
  "token-env": { type: "string", input: false },
  thresholds: { type: "string", multiple: true, flag: "threshold" },
  baseline: { type: "string" },
  "max-regression": { type: "string" },
  command: { type: "string" },
  "ready-url": { type: "string" },
  "ready-timeout": { type: "string" },
  overhead: { type: "boolean" },
  markdown: { type: "string", input: false },
  ...JSON_FIELD,
} as const satisfies Fields;

export interface BenchmarkSettings {
  session: SessionSettings;
  /** Header values and the token: masked in every log line. */
  secrets: string[];
  /** CLI: also write the Markdown summary here. */
  markdown?: string;
  json: boolean;
}

const DEFAULT_MAX_REGRESSION = "10%";
const LOADS = ["rate", "concurrency", "sweep-rates", "sweep-concurrency"] as const;
const STREAMING = ["openai-completions", "openai-chat"];

type Env = Readonly<Record<string, string | undefined>>;

export function parseBenchmarkSettings(
  values: RawValues,
  label: Label,
  env: Env = process.env,
): BenchmarkSettings {
  const r = reader(values, label);
  const url = r.required(
    "url",
    "give the server's base URL (oip, openai-*) or the endpoint to POST to (json), e.g. http://127.0.0.1:8080",
  );
  const protocol = r.oneOf("protocol", PROTOCOLS, "oip");
  const modelName = r.text("model-name");
  if (protocol === "oip" && modelName === undefined)
    throw r.fail("model-name", `is required with ${label("protocol")} oip`, "give the served model's name");
  const stream = r.boolean("stream");
  if (stream && !STREAMING.includes(protocol))
    throw r.fail("stream", `needs ${label("protocol")} ${STREAMING.join(" or ")}, not ${protocol}`);

  const input = r.path("input");
  const template = r.path("template");
  const rows = r.path("rows");
  if (input && template)
    throw r.fail("template", `and ${label("input")} both give the request bodies`, "keep one of them");
  if (template && !rows)
    throw r.fail("template", `needs ${label("rows")}`, "give a CSV or JSONL file of rows to fill it");
  if (rows && !template) throw r.fail("rows", `needs ${label("template")}`, "give the JSON body to fill");

  const { mode, sweep } = load(r, label);
  const objective = r.parsed("objective", () => parseThresholds(r.list("objective")));
  if (sweep && objective.length === 0)
    throw r.fail(
      sweep.name,
      `needs ${label("objective")}`,
      `give the latency to meet, e.g. ${label("objective")} "p99 < 200"`,
    );
  if (!sweep && objective.length > 0)
    throw r.fail("objective", "is for sweeps", `use ${label("thresholds")} for one run`);

  const durationS = r.duration("duration", { min: 0.1, max: LIMITS.maxDurationS }) ?? 10;
  const warmupS = r.duration("warmup", { min: 0, max: LIMITS.maxWarmupS }) ?? 1;
  const windowS = r.duration("window", { min: 0.1, max: LIMITS.maxDurationS });
  if (windowS !== undefined && windowS > durationS)
    throw r.fail("window", `is longer than ${label("duration")} (${durationS}s)`);
  const timeoutS = r.duration("timeout", { min: 0.001, max: LIMITS.maxTimeoutMs / 1000 });

  const headers: Record<string, string> = {};
  const lines = r.list("headers");
  lines.forEach((line, i) => {
    // Which one, by its place: the text itself may be a secret.
    const which = `header ${i + 1} of ${lines.length}`;
    const [name, value] = r.parsed("headers", () => {
      try {
        return parseHeader(line);
      } catch (error) {
        throw new Error(`${which} ${(error as Error).message}`);
      }
    });
    headers[name.toLowerCase()] = value;
  });
  const token = bearerToken(r, env);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;

  const baseline = r.path("baseline");
  if (r.given("max-regression") && !baseline)
    throw r.fail(
      "max-regression",
      `needs ${label("baseline")}`,
      `give ${label("baseline")} FILE (an earlier report) or leave ${label("max-regression")} out`,
    );
  const command = r.text("command");
  const readyUrl = r.text("ready-url");
  if (readyUrl !== undefined && command === undefined)
    throw r.fail("ready-url", `needs ${label("command")}`, "it waits for the server that command starts");
  const readyTimeoutS = r.duration("ready-timeout", { min: 0.1, max: 3600 }) ?? 60;
  const markdown = r.path("markdown");

  const session: SessionSettings = {
    url,
    protocol,
    ...(modelName !== undefined ? { modelName } : {}),
    stream,
    ...(input ? { input } : {}),
    ...(template ? { template } : {}),
    ...(rows ? { rows } : {}),
    mode,
    ...(sweep ? { sweep: sweep.loads } : {}),
    objective,
    durationS,
    warmupS,
    ...(windowS !== undefined ? { windowS } : {}),
    ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
    headers,
    ...(command !== undefined ? { command } : {}),
    ...(readyUrl !== undefined ? { readyUrl } : {}),
    readyTimeoutMs: readyTimeoutS * 1000,
    overhead: r.boolean("overhead"),
    thresholds: r.parsed("thresholds", () => parseThresholds(r.list("thresholds"))),
    ...(baseline
      ? {
          baseline: {
            file: baseline,
            maxRegression: r.parsed("max-regression", () =>
              parseRegression(r.text("max-regression") ?? DEFAULT_MAX_REGRESSION),
            ),
          },
        }
      : {}),
  };
  return {
    session,
    secrets: [...Object.values(headers).filter((v) => v !== ""), ...(token ? [token] : [])],
    ...(markdown !== undefined ? { markdown } : {}),
    json: r.boolean("json"),
  };
}

/** Exactly one load: a rate, a concurrency, or a sweep of either. No load is chosen for the user. */
function load(r: Reader, label: Label): { mode: LoadMode; sweep?: { name: string; loads: LoadMode[] } } {
  const given = LOADS.filter((name) => r.given(name));
  if (given.length !== 1) {
    const choices = `${label("rate")} RPS (open loop), ${label("concurrency")} N (closed loop), ${label("sweep-rates")} LIST or ${label("sweep-concurrency")} LIST`;
    throw r.fail(
      given[1] ?? "rate",
      given.length === 0 ? "or another load is required" : `and ${label(given[0] as string)} are both given`,
      `give exactly one of ${choices}`,
    );
  }
  const rps = r.number("rate", { min: 0.1, max: LIMITS.maxRps });
  if (rps !== undefined) return { mode: { kind: "rate", rps } };
  const connections = r.number("concurrency", { min: 1, max: LIMITS.maxConnections, integer: true });
  if (connections !== undefined) return { mode: { kind: "concurrency", connections } };
  const name = given[0] as "sweep-rates" | "sweep-concurrency";
  const kind = name === "sweep-rates" ? "rate" : "concurrency";
  const loads = r.parsed(name, () => parseSweep(kind, r.text(name) ?? ""));
  // A sweep runs its own loads; `mode` is only what the report's settings start from.
  return { mode: loads[0] as LoadMode, sweep: { name, loads } };
}

/** The action's `token` input, or the variable the CLI's --token-env names. */
function bearerToken(r: Reader, env: Env): string | undefined {
  const token = r.text("token");
  if (token !== undefined) return token;
  const variable = r.text("token-env");
  if (variable === undefined) return undefined;
  const value = env[variable];
  if (!value)
    throw r.fail(
      "token-env",
      `${variable}: that environment variable is not set or empty`,
      "export it, or pass the secret through the environment of this command",
    );
  return value;
}

export const benchmarkParser: Stage<BenchmarkSettings> = {
  fields: BENCHMARK_FIELDS,
  parse: (values, label) => parseBenchmarkSettings(values, label),
  // Header values often carry credentials (api keys), so all are masked with the token.
  secrets(values) {
    const lines = reader(values, String).list("headers");
    const headerValues = lines.map((line) => line.slice(line.indexOf(":") + 1).trim());
    const token = typeof values.token === "string" ? [values.token] : [];
    return [...headerValues, ...token].filter((s) => s !== "");
  },
};
