import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, DEFAULTS, loadConfig, parseConfig } from "../../src/config/index.js";

const EXAMPLE = resolve("examples/iris/modelship.yml");
const EXAMPLE_DIR = resolve("examples/iris");

describe("loadConfig on the Iris example", () => {
  it("loads with every path absolute and durations in seconds", async () => {
    const config = await loadConfig(EXAMPLE);
    expect(config.file).toBe(EXAMPLE);
    expect(config.dir).toBe(EXAMPLE_DIR);
    expect(config.model).toEqual({ name: "iris", path: join(EXAMPLE_DIR, "models/v2") });
    expect(config.image).toEqual({
      repository: "localhost:5000/iris",
      push: false,
      insecureRegistries: ["localhost:5000"],
    });
    expect(config.target).toEqual({ kind: "local", stateDir: join(EXAMPLE_DIR, ".modelship") });
    expect(config.benchmark).toEqual({
      input: join(EXAMPLE_DIR, "eval.jsonl"),
      protocol: "oip",
      mode: { kind: "rate", rps: 50 },
      durationS: 5,
      warmupS: 1,
    });
    expect(config.strategy).toEqual({
      trafficRate: 40,
      steps: [
        { weight: 20, durationS: 5 },
        { weight: 50, durationS: 5 },
      ],
      lookIntervalS: 1,
      maxExtensions: 1,
      warmupRequests: 20,
    });
    expect(config.gates).toEqual({
      alpha: 0.01,
      minRequests: 20,
      latency: {
        p95Ms: 250,
        maxIncreasePct: 10,
        minIncreaseMs: 0.5,
        criticalIncreasePct: 100,
        criticalIncreaseMs: 1,
      },
      errorRate: { max: 0.01, critical: 0.2 },
      accuracy: {
        evalSet: join(EXAMPLE_DIR, "eval.jsonl"),
        min: 0.85,
        output: "label",
        task: "classification",
        margin: 0.1,
        alpha: 0.05,
        metric: "mae",
      },
    });
  });

  it("resolves a relative config path against the working directory", async () => {
    const config = await loadConfig("examples/iris/modelship.yml");
    expect(config.model.path).toBe(join(EXAMPLE_DIR, "models/v2"));
  });
});

describe("defaults", () => {
  it("fills in everything but model", () => {
    const config = parseConfig("model:\n  name: m\n  path: model.onnx\n", "/srv/app/modelship.yml");
    expect(config.image).toEqual({ push: true });
    expect(config.target).toEqual({ kind: "local", stateDir: "/srv/app/.modelship" });
    expect(config.benchmark).toEqual({
      protocol: "oip",
      mode: { kind: "rate", rps: 20 },
      durationS: 10,
      warmupS: 1,
    });
    expect(config.strategy.trafficRate).toBe(20);
    expect(config.strategy.steps).toEqual(DEFAULTS.steps);
    expect(config.gates).toEqual({ alpha: 0.01, minRequests: 20 });
  });

  it("treats empty sections and null values as absent", () => {
    const text = "model: { name: m, path: m.onnx }\nimage:\n  base: null\ntarget:\nbenchmark:\ngates:\n";
    const config = parseConfig(text, "/x/modelship.yml");
    expect(config.image).toEqual({ push: true });
    expect(config.target).toEqual({ kind: "local", stateDir: "/x/.modelship" });
    expect(config.gates).toEqual({ alpha: 0.01, minRequests: 20 });
  });

  it("uses closed-loop mode when concurrency is given, and allows warmup 0", () => {
    const text = "model: { name: m, path: m }\nbenchmark: { concurrency: 8, warmup: 0, duration: 2m }\n";
    const config = parseConfig(text, "/x/modelship.yml");
    expect(config.benchmark.mode).toEqual({ kind: "concurrency", connections: 8 });
    expect(config.benchmark.warmupS).toBe(0);
    expect(config.benchmark.durationS).toBe(120);
  });

  it("accepts a kubernetes target with its own keys", () => {
    const text =
      "model: { name: m, path: m }\ntarget: { kind: kubernetes, namespace: ml, context: kind-ci }\n";
    expect(parseConfig(text, "/x/modelship.yml").target).toEqual({
      kind: "kubernetes",
      namespace: "ml",
      context: "kind-ci",
      // The defaults: a Deployment named after the model, split by replica ratio, OIP readiness.
      deployment: "m",
      router: { kind: "replicas" },
      replicas: 1,
      port: 8080,
      readinessPath: "/v2/models/m/ready",
      servedName: "m",
      startupTimeoutS: 600,
      resources: {},
      nodeSelector: {},
      tolerations: [],
      imagePullSecrets: [],
      leaseDurationS: 30,
      lockWaitS: 0,
    });
  });

  it("keeps absolute paths as they are", () => {
    const config = parseConfig("model: { name: m, path: /models/m.onnx }\n", "/x/modelship.yml");
    expect(config.model.path).toBe("/models/m.onnx");
  });
});

describe("loadConfig file problems", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "modelship-config-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reports a missing file with its path and a fix", async () => {
    const file = join(dir, "nope.yml");
    const error = await loadConfig(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).file).toBe(file);
    expect((error as ConfigError).message).toContain(`${file}: file not found`);
    expect((error as ConfigError).fix).toMatch(/create it/);
  });

  it("refuses a directory", async () => {
    await mkdir(join(dir, "sub"));
    await expect(loadConfig(join(dir, "sub"))).rejects.toThrow(
      `${join(dir, "sub")}: is a directory, not a regular file. Fix: give the path of modelship.yml`,
    );
  });

  it("refuses a FIFO at once, naming it (a plain read would wait for a writer forever)", async () => {
    const file = join(dir, "modelship.yml");
    execFileSync("mkfifo", [file]);
    const started = Date.now();
    const error = (await loadConfig(file).catch((e: unknown) => e)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      `${file}: is a named pipe (FIFO), not a regular file. Fix: give the path of modelship.yml`,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("refuses /dev/zero without reading it (it never ends)", async () => {
    const before = process.memoryUsage().rss;
    await expect(loadConfig("/dev/zero")).rejects.toThrow(
      "/dev/zero: is a character device, not a regular file",
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it("refuses a file larger than 1 MiB without parsing it", async () => {
    const file = join(dir, "big.yml");
    await writeFile(file, `model: { name: m, path: m }\n# ${"x".repeat(1024 * 1024)}\n`);
    await expect(loadConfig(file)).rejects.toThrow(/larger than the 1048576 bytes allowed/);
  });

  it("applies the same size limit in the pure parser", () => {
    expect(() => parseConfig(`# ${"x".repeat(1024 * 1024)}\n`, "big.yml")).toThrow(
      /larger than 1048576 bytes/,
    );
  });

  it("reads a real file and resolves paths against its directory", async () => {
    const file = join(dir, "modelship.yml");
    await writeFile(file, "model:\n  name: m\n  path: ../m.onnx\n");
    const config = await loadConfig(file);
    expect(config.model.path).toBe(join(dir, "../m.onnx"));
    expect(config.dir).toBe(dir);
  });
});

describe("gates.latency comparison with the stable model", () => {
  it("takes the bounds from the file, and refuses a negative millisecond floor on its line", () => {
    const text =
      "model: { name: m, path: m.onnx }\ngates:\n  latency:\n    p95Ms: 100\n    maxIncreasePct: 5\n    minIncreaseMs: 0.5\n";
    expect(parseConfig(text, "/repo/modelship.yml").gates.latency).toEqual({
      p95Ms: 100,
      maxIncreasePct: 5,
      minIncreaseMs: 0.5,
      criticalIncreasePct: 100,
      criticalIncreaseMs: 1,
    });
    const bad = text.replace("minIncreaseMs: 0.5", "minIncreaseMs: -1");
    expect(() => parseConfig(bad, "/repo/modelship.yml")).toThrow(
      /modelship\.yml:6:\d+: gates\.latency\.minIncreaseMs/,
    );
  });
});
