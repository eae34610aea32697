import { describe, expect, it } from "vitest";
import { type BenchmarkOptions, resolveEndpoint, validateOptions } from "../../src/bench/options.js";
import { encodeBodies } from "../../src/bench/protocols.js";
import { runBenchmark } from "../../src/bench/run.js";

const base: BenchmarkOptions = {
  url: "http://127.0.0.1:8080",
  protocol: "oip",
  modelName: "iris",
  bodies: [{ inputs: [] }],
  mode: { kind: "rate", rps: 10 },
  durationS: 1,
  warmupS: 0,
};

describe("benchmark options", () => {
  it("resolves the oip infer URL from the base URL, and takes json URLs as they are", () => {
    expect(resolveEndpoint("http://h:1/", "oip", "my model").href).toBe(
      "http://h:1/v2/models/my%20model/infer",
    );
    expect(resolveEndpoint("http://h:1/prefix", "oip", "m").href).toBe("http://h:1/prefix/v2/models/m/infer");
    expect(resolveEndpoint("https://h/predict?x=1", "json").href).toBe("https://h/predict?x=1");
  });

  it("fills in the default timeout", () => {
    expect(validateOptions(base).timeoutMs).toBe(10_000);
  });

  it.each<[string, Partial<BenchmarkOptions>, RegExp]>([
    ["rps of zero", { mode: { kind: "rate", rps: 0 } }, /mode\.rps must be a finite number > 0/],
    ["NaN rps", { mode: { kind: "rate", rps: Number.NaN } }, /mode\.rps/],
    ["infinite rps", { mode: { kind: "rate", rps: Number.POSITIVE_INFINITY } }, /mode\.rps/],
    ["absurd rps", { mode: { kind: "rate", rps: 1e9 } }, /mode\.rps .* <= 100000/],
    ["zero connections", { mode: { kind: "concurrency", connections: 0 } }, /mode\.connections/],
    ["fractional connections", { mode: { kind: "concurrency", connections: 1.5 } }, /whole number/],
    ["an unknown mode", { mode: { kind: "burst" } as never }, /mode\.kind must be/],
    ["negative duration", { durationS: -1 }, /durationS/],
    ["zero duration", { durationS: 0 }, /durationS/],
    ["duration as a string", { durationS: "10" as never }, /durationS must be a finite number/],
    ["negative warmup", { warmupS: -0.5 }, /warmupS/],
    ["zero timeout", { timeoutMs: 0 }, /timeoutMs/],
    ["an ftp URL", { url: "ftp://127.0.0.1/" }, /http or https/],
    ["a malformed URL", { url: "not a url" }, /not a valid URL/],
    ["a URL with a password", { url: "http://user:s3cret@127.0.0.1:1/" }, /must not carry credentials/],
    ["a URL with a user name", { url: "http://token@127.0.0.1:1/" }, /must not carry credentials/],
    ["oip without a model name", { modelName: undefined }, /modelName is required/],
    ["an unknown protocol", { protocol: "grpc" as never }, /protocol must be/],
    ["no bodies", { bodies: [] }, /at least one request body/],
    ["a header with a newline", { headers: { "x-a": "b\r\nx-evil: 1" } }, /header "x-a" is invalid/],
    ["a header name with a space", { headers: { "bad name": "v" } }, /header "bad name" is invalid/],
  ])("rejects %s", async (_what, change, message) => {
    const options = { ...base, ...change } as BenchmarkOptions;
    expect(() => validateOptions(options)).toThrow(message);
    await expect(runBenchmark(options)).rejects.toThrow(message);
  });

  it("rejects an oip body without inputs, naming the body", async () => {
    const options = { ...base, bodies: [{ inputs: [] }, { data: [1, 2] }] };
    await expect(runBenchmark(options)).rejects.toThrow(/body #2 has no "inputs" array/);
    await expect(runBenchmark({ ...base, bodies: [[1, 2]] })).rejects.toThrow(
      /body #1 must be a JSON object/,
    );
  });
});

describe("request encoding", () => {
  it("strips keys outside the Open Inference Protocol, such as label", () => {
    const [encoded] = encodeBodies("oip", [
      { id: "1", inputs: [{ name: "x" }], label: 2, parameters: { a: 1 }, outputs: [] },
    ]);
    expect(JSON.parse(encoded?.toString() ?? "")).toEqual({
      id: "1",
      inputs: [{ name: "x" }],
      parameters: { a: 1 },
      outputs: [],
    });
  });

  it("sends json bodies exactly as given", () => {
    const bodies = [{ label: 1, features: [1.5, 2] }, [1, 2, 3], "text", 42, null];
    const encoded = encodeBodies("json", bodies).map((b) => JSON.parse(b.toString()));
    expect(encoded).toEqual(bodies);
  });

  it("rejects a body JSON cannot carry", () => {
    expect(() => encodeBodies("json", [undefined])).toThrow(/body #1 cannot be sent as JSON/);
  });
});
