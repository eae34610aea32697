import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BenchmarkSettings, benchmarkParser } from "../../src/settings/benchmark.js";
import { fromInputs } from "../../src/settings/sources.js";
import { parseAs, type Row, settingsTable } from "./settings-table.js";

const base = { url: "http://127.0.0.1:8080", "model-name": "iris", rate: "20" };
const noLoad = { url: "http://127.0.0.1:8080/predict", protocol: "json" };
const json = { ...noLoad, rate: "5" };
type S = BenchmarkSettings["session"];
const session = (s: Partial<S>) => ({ session: s as S });

beforeAll(() => {
  process.env.MODELSHIP_TEST_BENCH_TOKEN = "tok-from-env-1234";
});
afterAll(() => {
  delete process.env.MODELSHIP_TEST_BENCH_TOKEN;
});

const rows: Row<BenchmarkSettings>[] = [
  {
    title: "oip at a rate, with the defaults",
    given: base,
    settings: {
      ...session({
        url: "http://127.0.0.1:8080",
        protocol: "oip",
        modelName: "iris",
        stream: false,
        mode: { kind: "rate", rps: 20 },
        objective: [],
        durationS: 10,
        warmupS: 1,
        headers: {},
        readyTimeoutMs: 60_000,
        overhead: false,
        thresholds: [],
      }),
      secrets: [],
      json: false,
    },
  },
  {
    title: "closed loop",
    given: { ...noLoad, concurrency: "8" },
    settings: session({ mode: { kind: "concurrency", connections: 8 } }),
  },
  {
    title: "durations as modelship.yml writes them (the CLI refused 3s)",
    given: {
      ...base,
      duration: "3s",
      warmup: "500ms",
      window: "1s",
      timeout: "250ms",
      "ready-timeout": "2m",
      command: "srv",
    },
    settings: session({ durationS: 3, warmupS: 0.5, windowS: 1, timeoutMs: 250, readyTimeoutMs: 120_000 }),
  },
  { title: "no warmup", given: { ...base, warmup: "0" }, settings: session({ warmupS: 0 }) },
  {
    title: "a sweep of rates with its objective",
    given: { ...noLoad, "sweep-rates": "50,10,20", objective: ["p99 < 200"] },
    settings: session({
      sweep: [
        { kind: "rate", rps: 10 },
        { kind: "rate", rps: 20 },
        { kind: "rate", rps: 50 },
      ],
      mode: { kind: "rate", rps: 10 },
    }),
  },
  {
    title: "headers (one a line / repeated) and thresholds, header values masked",
    given: { ...json, headers: ["X-Team: ml", "X-Key: k-123456"], thresholds: ["p95 < 200", "errors < 1%"] },
    settings: {
      ...session({ headers: { "x-team": "ml", "x-key": "k-123456" } }),
      secrets: ["ml", "k-123456"],
    },
  },
  {
    title: "bodies from a template and rows; files resolved",
    given: { ...json, template: "t.json", rows: "rows.csv" },
    settings: session({ template: resolve("t.json"), rows: resolve("rows.csv") }),
  },
  {
    title: "a baseline with the default 10% regression",
    given: { ...base, baseline: "old.json" },
    settings: session({ baseline: { file: resolve("old.json"), maxRegression: 0.1 } }),
  },
  {
    title: "a baseline with its max regression",
    given: { ...base, baseline: "old.json", "max-regression": "50%" },
    settings: session({ baseline: { file: resolve("old.json"), maxRegression: 0.5 } }),
  },
  {
    title: "streaming on openai-chat",
    given: { url: "http://h", protocol: "openai-chat", stream: true, concurrency: "2", input: "b.jsonl" },
    settings: session({ stream: true, protocol: "openai-chat", input: resolve("b.jsonl") }),
  },

  // One load, always: the action used to pick rate 20 when none was given.
  {
    title: "no load given",
    given: { url: "http://h", "model-name": "iris" },
    error: { name: "rate", problem: "or another load is required", fix: "give exactly one of {rate} RPS" },
  },
  {
    title: "two loads given",
    given: { ...base, concurrency: "4" },
    error: { name: "concurrency", problem: "and {rate} are both given", fix: "{sweep-concurrency} LIST" },
  },
  // The action used to ignore objective without a sweep, and max-regression without a baseline.
  {
    title: "an objective without a sweep",
    given: { ...base, objective: ["p99 < 200"] },
    error: { name: "objective", problem: "is for sweeps", fix: "use {thresholds} for one run" },
  },
  {
    title: "a sweep without an objective",
    given: { ...noLoad, "sweep-concurrency": "1,2" },
    error: { name: "sweep-concurrency", problem: "needs {objective}" },
  },
  {
    title: "max-regression without a baseline",
    given: { ...base, "max-regression": "10" },
    error: { name: "max-regression", problem: "needs {baseline}" },
  },
  { title: "the URL is required", given: { rate: "1" }, error: { name: "url", problem: "is required" } },
  {
    title: "oip needs the model's name",
    given: { url: "http://h", rate: "1" },
    error: { name: "model-name", problem: "is required with {protocol} oip" },
  },
  {
    title: "an unknown protocol",
    given: { ...base, protocol: "grpc" },
    error: {
      name: "protocol",
      problem: 'must be one of oip, json, openai-completions, openai-chat, openai-embeddings, got "grpc"',
    },
  },
  {
    title: "streaming on json",
    given: { ...json, stream: true },
    error: { name: "stream", problem: "needs {protocol} openai-completions or openai-chat, not json" },
  },
  {
    title: "a rate that is not a number",
    given: { ...base, rate: "12abc" },
    error: { name: "rate", problem: 'must be a number from 0.1 to 100000, got "12abc"' },
  },
  {
    title: "a rate out of range",
    given: { ...base, rate: "1000000" },
    error: { name: "rate", problem: "must be a number from 0.1 to 100000" },
  },
  {
    title: "fractional connections (the action had no upper bound either)",
    given: { ...noLoad, concurrency: "1.5" },
    error: { name: "concurrency", problem: 'must be a whole number from 1 to 10000, got "1.5"' },
  },
  {
    title: "a duration that is not one",
    given: { ...base, duration: "10 sec" },
    error: { name: "duration", problem: 'must be a duration, got "10 sec"' },
  },
  {
    title: "a window longer than the run",
    given: { ...base, duration: "2", window: "5s" },
    error: { name: "window", problem: "is longer than {duration}" },
  },
  {
    title: "a timeout over 10 minutes",
    given: { ...base, timeout: "11m" },
    error: { name: "timeout", problem: "must be from 1ms to 600s" },
  },
  {
    title: "a bad threshold",
    given: { ...base, thresholds: ["p95 200"] },
    error: { name: "thresholds", problem: 'expected "<metric> <op> <number>"' },
  },
  {
    title: "errors as a fraction",
    given: { ...base, thresholds: ["errors < 0.01"] },
    error: { name: "thresholds", problem: "percentage" },
  },
  {
    title: "a header without a name, its value not echoed",
    given: { ...json, headers: [": secret-value"] },
    error: { name: "headers", problem: 'is invalid: header 1 of 1 has no name before ":"' },
  },
  {
    title: "which header is malformed, by its place (the text may be a secret)",
    given: { ...json, headers: ["X-Team: ml", "X-Key sk-live-1234"] },
    error: { name: "headers", problem: 'is invalid: header 2 of 2 has no ":" between a name and a value' },
  },
  {
    title: "both a JSONL input and a template",
    given: { ...json, input: "b.jsonl", template: "t.json", rows: "r.csv" },
    error: { name: "template", problem: "and {input} both give the request bodies" },
  },
  {
    title: "rows without a template",
    given: { ...json, rows: "r.csv" },
    error: { name: "rows", problem: "needs {template}" },
  },
  {
    title: "a template without rows",
    given: { ...json, template: "t.json" },
    error: { name: "template", problem: "needs {rows}" },
  },
  {
    title: "ready-url without a command (it was silently unused)",
    given: { ...base, "ready-url": "http://h/ready" },
    error: { name: "ready-url", problem: "needs {command}" },
  },
  {
    title: "a bad max regression",
    given: { ...base, baseline: "b.json", "max-regression": "10" },
    error: { name: "max-regression", problem: "is invalid: max regression must be a percentage" },
  },
  {
    title: "a sweep that is not a list of numbers",
    given: { ...noLoad, "sweep-rates": "10,x", objective: ["p99 < 1"] },
    error: { name: "sweep-rates", problem: 'is invalid: sweep: "x" is not a positive number' },
  },

  // Side-specific: the token itself (action) or the variable holding it (CLI); output files.
  {
    title: "action: the token becomes the authorization header and a secret",
    only: "action",
    given: { ...json, token: "tok-1234" },
    settings: {
      ...session({ headers: { authorization: "Bearer tok-1234" } }),
      secrets: ["Bearer tok-1234", "tok-1234"],
    },
  },
  {
    title: "cli: --token-env names the variable",
    only: "cli",
    given: { ...json, "token-env": "MODELSHIP_TEST_BENCH_TOKEN" },
    settings: session({ headers: { authorization: "Bearer tok-from-env-1234" } }),
  },
  {
    title: "cli: --token-env naming an unset variable",
    only: "cli",
    given: { ...json, "token-env": "MODELSHIP_UNSET_TOKEN_VAR" },
    error: {
      name: "token-env",
      problem: "MODELSHIP_UNSET_TOKEN_VAR: that environment variable is not set or empty",
    },
  },
  {
    title: "cli: --markdown and --json",
    only: "cli",
    given: { ...base, markdown: "s.md", json: true },
    settings: { markdown: resolve("s.md"), json: true },
  },
  {
    title: "action: stream must be true or false",
    only: "action",
    given: { ...base, stream: "yes" },
    error: { name: "stream", problem: 'must be true or false, got "yes"' },
  },
  {
    title: "action: thresholds and objective one a line, # comments skipped",
    only: "action",
    given: { ...json, thresholds: "p95 < 200\n# not yet: p99 < 300\n\nerrors < 1%" },
    settings: session({
      thresholds: [
        { text: "p95 < 200", metric: "p95", op: "<", value: 200 },
        { text: "errors < 1%", metric: "errors", op: "<", value: 0.01 },
      ],
    }),
  },
];

describe("benchmark settings", () => {
  settingsTable(benchmarkParser, rows);

  it("the action masks the token and every header value before parsing anything", () => {
    const inputs: Record<string, string> = {
      token: "tok-5678",
      headers: "X-Key: k-9999\nX-Team: ml",
      rate: "x",
    };
    const masked: string[] = [];
    expect(() =>
      fromInputs(
        benchmarkParser,
        (name) => inputs[name] ?? "",
        (s) => masked.push(s),
      ),
    ).toThrow();
    expect(masked).toEqual(["k-9999", "ml", "tok-5678"]);
  });

  it("the CLI's rate and the action's rate give the same session", () => {
    const given = { ...base, duration: "2", thresholds: ["p95 < 200"] };
    expect(parseAs(benchmarkParser, "cli", given)).toEqual(parseAs(benchmarkParser, "action", given));
  });
});
