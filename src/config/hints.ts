// What each key expects and how to fix a bad value, written for people: the same words appear in
// docs/config.md. Keys use "*" for list indices.
import { DURATION_EXPECTED } from "./duration.js";
import { LIMITS } from "./schema.js";

export interface Hint {
  expected: string;
  fix?: string;
}

const PATH = "a non-empty path relative to the directory of modelship.yml";
const DURATION: Hint = { expected: DURATION_EXPECTED, fix: 'write e.g. "30s" or "2m"' };

export const HINTS: Record<string, Hint> = {
  "": { expected: "a mapping with at least a model: section", fix: "start from examples/iris/modelship.yml" },
  model: { expected: "a mapping with name and path", fix: "add model: { name: my-model, path: models/v1 }" },
  "model.name": {
    expected: "1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
    fix: 'use a lowercase name like "iris" or "fraud-v2" (it is used in URLs and image names)',
  },
  "model.path": {
    expected: `a model file or directory, as ${PATH}`,
    fix: "set model.path to the model file",
  },
  image: {
    expected:
      "a mapping with optional repository, base, push, insecureRegistries, platforms, runtime, builder, dockerfile, context",
  },
  "image.repository": {
    expected: 'an image repository without tag or digest, e.g. "ghcr.io/acme/iris" or "localhost:5000/iris"',
    fix: "remove any :tag or @digest; modelship tags images itself",
  },
  "image.push": {
    expected:
      "true (push to image.repository, the default) or false (keep the image in the local OCI layout)",
  },
  "image.base": { expected: 'an image reference such as "ghcr.io/acme/onnx-server:1.2"' },
  "image.platforms": {
    expected: "a list of platforms as os/arch[/variant], e.g. [linux/amd64, linux/arm64]",
    fix: "each platform must be in the base image's index; two or more give a multi-platform image",
  },
  "image.platforms.*": { expected: "a platform as os/arch[/variant], e.g. linux/arm64" },
  "image.runtime": {
    expected:
      "a runtime preset (reference, kserve-modelcar, triton, vllm, tgi, torchserve, custom) or a mapping with preset and name, version, path, args, env, port",
  },
  "image.runtime.preset": {
    expected: "one of reference, kserve-modelcar, triton, vllm, tgi, torchserve, custom",
  },
  "image.builder": {
    expected: "daemonless (the model appended as a layer, the default) or docker (docker buildx build)",
  },
  "image.dockerfile": { expected: "the Dockerfile for builder: docker, as a path relative to modelship.yml" },
  "image.context": { expected: "the build context for builder: docker, as a path relative to modelship.yml" },
  target: { expected: 'a mapping with kind: "local" or kind: "kubernetes"' },
  "target.kind": {
    expected: '"local" or "kubernetes"',
    fix: "use kind: local to try the pipeline on this machine",
  },
  "target.stateDir": { expected: PATH },
  "target.namespace": { expected: "a Kubernetes namespace name, a lowercase DNS label" },
  "target.deployment": { expected: "a Kubernetes Deployment name, a lowercase DNS subdomain" },
  "target.context": { expected: "a kubeconfig context name" },
  benchmark: { expected: "a mapping" },
  "benchmark.input": { expected: `a JSONL file of request bodies, one per line, as ${PATH}` },
  "benchmark.protocol": { expected: '"oip" for Open Inference Protocol v2, or "json"' },
  "benchmark.rate": {
    expected: `requests per second, greater than 0 and at most ${LIMITS.maxRps}`,
    fix: "set either rate for an open loop or concurrency for a closed loop",
  },
  "benchmark.concurrency": {
    expected: `a whole number of connections from 1 to ${LIMITS.maxConnections}`,
    fix: "set either rate for an open loop or concurrency for a closed loop, not both",
  },
  "benchmark.duration": DURATION,
  "benchmark.warmup": {
    expected: DURATION_EXPECTED.replace("greater than 0", "0 or more"),
    fix: DURATION.fix,
  },
  "benchmark.timeout": { expected: `per-request timeout: ${DURATION_EXPECTED}` },
  "benchmark.headers": {
    expected: "a mapping of header names to values, e.g. X-Team: ml (use tokenEnv for credentials)",
  },
  "benchmark.tokenEnv": { expected: "the name of an environment variable holding a bearer token" },
  "benchmark.thresholds": {
    expected: 'a list of k6-style thresholds, e.g. ["p95 < 200", "errors < 1%"]',
    fix: 'write each as "<metric> <op> <number>": p50 p90 p95 p99 p999 max in ms (or "0.2s"), errors in %, rps',
  },
  "benchmark.baseline": { expected: `an earlier benchmark JSON report, as ${PATH}` },
  "benchmark.maxRegression": { expected: 'a percentage like "10%" (or a fraction like 0.1)' },
  strategy: { expected: "a mapping with trafficRate and steps" },
  "strategy.trafficRate": { expected: `requests per second, greater than 0 and at most ${LIMITS.maxRps}` },
  "strategy.steps": {
    expected: `a list of 1 to ${LIMITS.maxSteps} steps, each { weight, duration }`,
    fix: "write e.g. steps: [{ weight: 20, duration: 5s }, { weight: 50, duration: 5s }]",
  },
  "strategy.steps.*": { expected: "a mapping { weight, duration }" },
  "strategy.steps.*.weight": {
    expected: "a whole percentage from 1 to 100, greater than the previous step's",
    fix: "make the weights strictly increasing, e.g. 10, 50, 100",
  },
  "strategy.steps.*.duration": DURATION,
  gates: { expected: "a mapping with any of latency, errorRate, accuracy" },
  "gates.latency": {
    expected:
      "a mapping { p95Ms, maxIncreasePct?, minIncreaseMs?, criticalIncreasePct?, criticalIncreaseMs? }",
  },
  "gates.latency.maxIncreasePct": { expected: "a percentage greater than 0, at most 1000 (default 10)" },
  "gates.latency.minIncreaseMs": { expected: "milliseconds, 0 or more (default 0.5)" },
  "gates.latency.criticalIncreasePct": { expected: "a percentage greater than 0 (default 100)" },
  "gates.latency.criticalIncreaseMs": { expected: "milliseconds, 0 or more (default 1)" },
  "gates.alpha": { expected: "a probability greater than 0, at most 0.2 (default 0.01)" },
  "gates.accuracy.margin": {
    expected: "accuracy points (0.05 = 5 points), or the metric's unit for regression",
  },
  "gates.latency.p95Ms": { expected: `milliseconds, greater than 0 and at most ${LIMITS.maxP95Ms}` },
  "gates.errorRate": { expected: "a mapping { max }" },
  "gates.errorRate.max": {
    expected: "a ratio from 0 to 1, where 0.01 means 1%",
    fix: "write 0.01 for 1%, not 1",
  },
  "gates.accuracy": { expected: "a mapping { evalSet, min, output }" },
  "gates.accuracy.evalSet": { expected: `a labelled JSONL file, as ${PATH}` },
  "gates.accuracy.min": {
    expected: "a ratio from 0 to 1, where 0.9 means 90%",
    fix: "write 0.9 for 90%, not 90",
  },
  "gates.accuracy.output": { expected: "the name of the model output that holds the predicted class" },
  validation: {
    expected:
      "a mapping with any of formats, maxSize, pickle, allowGlobals, requiredFiles, allowBreakingChanges, smokeRun, smoke",
  },
  "validation.formats": {
    expected: "a list of weight formats: onnx, safetensors, pickle, pytorch, gguf, numpy, savedmodel",
    fix: "write e.g. formats: [onnx, safetensors]",
  },
  "validation.maxSize": { expected: 'a size in bytes, or a string like "500MB" or "2GiB"' },
  "validation.pickle": {
    expected: '"warn" (unknown pickle globals warn) or "strict" (they reject the model)',
  },
  "validation.allowGlobals": {
    expected: 'a list of reviewed pickle globals as "module.name", e.g. "mylib.models.Net"',
  },
  "validation.allowGlobals.*": { expected: 'a global as "module.name"' },
  "validation.requiredFiles": {
    expected: `a list of files that must be in the model, each ${PATH.replace("modelship.yml", "the model")}`,
  },
  "validation.allowBreakingChanges": { expected: "true or false (default false)" },
  "validation.smokeRun": {
    expected: "true or false (default true): load ONNX models in onnxruntime and run one request",
  },
  "validation.smoke": { expected: "a mapping with any of timeout, memory, maxOutput, inputs" },
  "validation.smoke.timeout": { expected: `${DURATION.expected} (default 60s)` },
  "validation.smoke.memory": {
    expected:
      'a size like "4GiB", at least 64MiB: what loading and running the model may add (default 2GiB plus 3 times the model\'s size)',
  },
  "validation.smoke.maxOutput": { expected: 'a size like "256MiB" (default 256MiB)' },
  "validation.smoke.inputs": {
    expected:
      "a mapping from input name to its values as nested lists of numbers (true/false for BOOL), e.g. { shape: [3, 4] }",
  },
};

export function hintFor(path: readonly PropertyKey[]): Hint | undefined {
  return HINTS[path.map((segment) => (typeof segment === "number" ? "*" : String(segment))).join(".")];
}
