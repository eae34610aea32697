// Validated file data → ModelshipConfig: defaults filled in, relative paths made absolute.
import { resolve } from "node:path";
import { DEFAULT_SEQUENTIAL } from "../gates/budget.js";
import { EVAL_DEFAULTS } from "../gates/evaluation.js";
import { MIN_TRAFFIC_SAMPLES } from "../gates/gates.js";
import { ERROR_DEFAULTS, LATENCY_DEFAULTS } from "../gates/traffic.js";
import type { RuntimeSpec } from "../image/presets.js";
import { DEFAULT_POLICY } from "../model/policy.js";
import type { SmokeOptions } from "../model/smoke-limits.js";
import type { RawConfig } from "./schema.js";
import type { KubernetesTargetConfig, ModelshipConfig } from "./types.js";

export const DEFAULTS = {
  stateDir: ".modelship",
  namespace: "default",
  protocol: "oip",
  rate: 20,
  durationS: 10,
  warmupS: 1,
  maxRegression: 0.1,
  trafficRate: 20,
  steps: [
    { weight: 20, durationS: 10 },
    { weight: 50, durationS: 10 },
  ],
  // Large models take minutes to download and load; the startup probe allows this long.
  startupTimeoutS: 600,
  warmupRequests: 20,
} as const;

export function resolveConfig(raw: RawConfig, file: string, dir: string): ModelshipConfig {
  const at = (path: string) => resolve(dir, path);
  const bench = raw.benchmark ?? {};
  const target = raw.target ?? {};
  const gates = raw.gates ?? {};
  const validation = raw.validation ?? {};
  return {
    file,
    dir,
    model: { name: raw.model.name, path: at(raw.model.path) },
    image: {
      ...(raw.image?.repository ? { repository: raw.image.repository } : {}),
      ...(raw.image?.base ? { base: raw.image.base } : {}),
      push: raw.image?.push ?? true,
      ...(raw.image?.insecureRegistries ? { insecureRegistries: [...raw.image.insecureRegistries] } : {}),
      ...(raw.image?.platforms ? { platforms: [...raw.image.platforms] } : {}),
      ...(raw.image?.runtime ? { runtime: runtimeSpec(raw.image.runtime) } : {}),
      ...(raw.image?.builder ? { builder: raw.image.builder } : {}),
      ...(raw.image?.dockerfile ? { dockerfile: at(raw.image.dockerfile) } : {}),
      ...(raw.image?.context ? { context: at(raw.image.context) } : {}),
    },
    target:
      target.kind === "kubernetes"
        ? kubernetesTarget(target, raw, at)
        : { kind: "local", stateDir: at(target.stateDir ?? DEFAULTS.stateDir) },
    benchmark: {
      ...(bench.input ? { input: at(bench.input) } : {}),
      protocol: bench.protocol ?? DEFAULTS.protocol,
      mode:
        bench.concurrency != null
          ? { kind: "concurrency", connections: bench.concurrency }
          : { kind: "rate", rps: bench.rate ?? DEFAULTS.rate },
      durationS: bench.duration ?? DEFAULTS.durationS,
      warmupS: bench.warmup ?? DEFAULTS.warmupS,
      ...(bench.timeout != null ? { timeoutMs: bench.timeout * 1000 } : {}),
      ...(bench.headers ? { headers: { ...bench.headers } } : {}),
      ...(bench.tokenEnv ? { tokenEnv: bench.tokenEnv } : {}),
      ...(bench.thresholds?.length ? { thresholds: [...bench.thresholds] } : {}),
      ...(bench.baseline
        ? {
            baseline: {
              file: at(bench.baseline),
              maxRegression: bench.maxRegression ?? DEFAULTS.maxRegression,
            },
          }
        : {}),
    },
    strategy: {
      trafficRate: raw.strategy?.trafficRate ?? DEFAULTS.trafficRate,
      steps: raw.strategy?.steps
        ? raw.strategy.steps.map((step) => ({ weight: step.weight, durationS: step.duration }))
        : DEFAULTS.steps.map((step) => ({ ...step })),
      lookIntervalS: raw.strategy?.lookInterval ?? DEFAULT_SEQUENTIAL.lookIntervalS,
      maxExtensions: raw.strategy?.maxExtensions ?? DEFAULT_SEQUENTIAL.maxExtensions,
      warmupRequests: raw.strategy?.warmup ?? DEFAULTS.warmupRequests,
    },
    gates: {
      alpha: gates.alpha ?? DEFAULT_SEQUENTIAL.alpha,
      minRequests: gates.minRequests ?? MIN_TRAFFIC_SAMPLES,
      ...(gates.latency
        ? {
            latency: {
              p95Ms: gates.latency.p95Ms,
              maxIncreasePct: gates.latency.maxIncreasePct ?? LATENCY_DEFAULTS.maxIncreasePct,
              minIncreaseMs: gates.latency.minIncreaseMs ?? LATENCY_DEFAULTS.minIncreaseMs,
              criticalIncreasePct: gates.latency.criticalIncreasePct ?? LATENCY_DEFAULTS.criticalIncreasePct,
              criticalIncreaseMs: gates.latency.criticalIncreaseMs ?? LATENCY_DEFAULTS.criticalIncreaseMs,
            },
          }
        : {}),
      ...(gates.errorRate
        ? {
            errorRate: {
              max: gates.errorRate.max,
              critical: gates.errorRate.critical ?? ERROR_DEFAULTS.critical,
            },
          }
        : {}),
      ...(gates.accuracy
        ? {
            accuracy: {
              evalSet: at(gates.accuracy.evalSet),
              ...(gates.accuracy.min != null ? { min: gates.accuracy.min } : {}),
              output: gates.accuracy.output,
              task: gates.accuracy.task ?? "classification",
              margin: gates.accuracy.margin ?? EVAL_DEFAULTS.margin,
              alpha: gates.accuracy.alpha ?? EVAL_DEFAULTS.alpha,
              metric: gates.accuracy.metric ?? EVAL_DEFAULTS.metric,
            },
          }
        : {}),
      ...(gates.agreement
        ? {
            agreement: {
              ...(gates.agreement.min != null ? { min: gates.agreement.min } : {}),
              tolerance: gates.agreement.tolerance ?? EVAL_DEFAULTS.tolerance,
            },
          }
        : {}),
      ...(gates.prometheus
        ? {
            prometheus: {
              ...(gates.prometheus.url ? { url: gates.prometheus.url } : {}),
              queries: gates.prometheus.queries.map((q) => ({
                name: q.name,
                query: q.query,
                ...(q.max != null ? { max: q.max } : {}),
                ...(q.min != null ? { min: q.min } : {}),
              })),
            },
          }
        : {}),
    },
    validation: {
      ...(validation.formats ? { formats: [...validation.formats] } : {}),
      ...(validation.maxSize != null ? { maxSizeBytes: validation.maxSize } : {}),
      pickle: validation.pickle ?? DEFAULT_POLICY.pickle,
      allowGlobals: validation.allowGlobals ?? [],
      requiredFiles: validation.requiredFiles ?? [],
      allowBreakingChanges: validation.allowBreakingChanges ?? DEFAULT_POLICY.allowBreakingChanges,
      smokeRun: validation.smokeRun ?? DEFAULT_POLICY.smokeRun,
      ...(validation.smoke ? { smoke: smokeOptions(validation.smoke) } : {}),
    },
  };
}

/** validation.smoke without its nulls, durations in milliseconds. */
function smokeOptions(raw: NonNullable<NonNullable<RawConfig["validation"]>["smoke"]>): SmokeOptions {
  return {
    ...(raw.timeout != null ? { timeoutMs: raw.timeout * 1000 } : {}),
    ...(raw.memory != null ? { memoryBytes: raw.memory } : {}),
    ...(raw.maxOutput != null ? { maxOutputBytes: raw.maxOutput } : {}),
    ...(raw.inputs != null ? { inputs: { ...raw.inputs } } : {}),
  };
}

/** The file's runtime mapping without its nulls. */
function runtimeSpec(raw: NonNullable<NonNullable<RawConfig["image"]>["runtime"]>): RuntimeSpec {
  const spec: RuntimeSpec = { preset: raw.preset };
  if (raw.name != null) spec.name = raw.name;
  if (raw.version != null) spec.version = raw.version;
  if (raw.path != null) spec.path = raw.path;
  if (raw.args != null) spec.args = [...raw.args];
  if (raw.env != null) spec.env = { ...raw.env };
  if (raw.port != null) spec.port = raw.port;
  return spec;
}

type RawKubernetesTarget = Extract<NonNullable<RawConfig["target"]>, { kind: "kubernetes" }>;

function kubernetesTarget(
  target: RawKubernetesTarget,
  raw: RawConfig,
  at: (path: string) => string,
): KubernetesTargetConfig {
  const deployment = target.deployment ?? raw.model.name;
  const router = target.router ?? { kind: "replicas" as const };
  const preset = raw.image?.runtime?.preset;
  return {
    kind: "kubernetes",
    namespace: target.namespace ?? DEFAULTS.namespace,
    deployment,
    ...(target.context ? { context: target.context } : {}),
    ...(target.kubeconfig ? { kubeconfig: at(target.kubeconfig) } : {}),
    router:
      router.kind === "gateway-api"
        ? {
            kind: "gateway-api",
            route: router.route ?? deployment,
            gateway: {
              name: router.gateway.name,
              ...(router.gateway.namespace ? { namespace: router.gateway.namespace } : {}),
              ...(router.gateway.sectionName ? { sectionName: router.gateway.sectionName } : {}),
            },
            hostnames: [...(router.hostnames ?? [])],
          }
        : router.kind === "istio"
          ? {
              kind: "istio",
              ...(router.host ? { host: router.host } : {}),
              gateways: [...(router.gateways ?? [])],
            }
          : router.kind === "kserve"
            ? {
                kind: "kserve",
                inferenceService: router.inferenceService ?? deployment,
                modelFormat: router.modelFormat ?? "onnx",
              }
            : { kind: "replicas" },
    replicas: target.replicas ?? 1,
    port: target.port ?? raw.image?.runtime?.port ?? presetPort(preset),
    readinessPath: target.readinessPath ?? readinessPathOf(preset, servedName(raw)),
    servedName: servedName(raw),
    startupTimeoutS: target.startupTimeout ?? DEFAULTS.startupTimeoutS,
    resources: {
      ...(target.resources?.cpu ? { cpu: target.resources.cpu } : {}),
      ...(target.resources?.memory ? { memory: target.resources.memory } : {}),
      ...(target.resources?.gpu != null ? { gpu: target.resources.gpu } : {}),
    },
    nodeSelector: { ...(target.nodeSelector ?? {}) },
    tolerations: (target.tolerations ?? []).map((t) => ({
      ...(t.key ? { key: t.key } : {}),
      ...(t.operator ? { operator: t.operator } : {}),
      ...(t.value ? { value: t.value } : {}),
      ...(t.effect ? { effect: t.effect } : {}),
    })),
    imagePullSecrets: [...(target.imagePullSecrets ?? [])],
    ...(target.template ? { template: at(target.template) } : {}),
    ...(target.prometheus ? { prometheus: { url: target.prometheus.url } } : {}),
    leaseDurationS: Math.ceil(target.leaseDuration ?? 30),
    lockWaitS: target.lockWait ?? 0,
  };
}

/** The port each runtime preset's server listens on (see image/presets.ts); 8080 otherwise. */
function presetPort(preset: string | undefined): number {
  return preset === "triton" || preset === "vllm" ? 8000 : preset === "tgi" ? 80 : 8080;
}

/**
 * The name requests address the model by on the target: the image's server on Kubernetes (Triton
 * serves its model directory's name), the reference server the local target runs under model.name.
 */
export function servedModelName(config: ModelshipConfig): string {
  return config.target.kind === "kubernetes" ? config.target.servedName : config.model.name;
}

/** The name the server knows the model by: Triton's model directory, else model.name. */
function servedName(raw: RawConfig): string {
  const runtime = raw.image?.runtime;
  return runtime?.name ?? (runtime?.preset === "triton" ? "model" : raw.model.name);
}

/** Readiness of the model, not the process: the server's own model-ready path where it has one. */
function readinessPathOf(preset: string | undefined, model: string): string {
  switch (preset) {
    case "vllm":
    case "tgi":
      return "/health";
    case "torchserve":
      return "/ping";
    default:
      // Open Inference Protocol v2 (the reference server, Triton, KServe runtimes).
      return `/v2/models/${encodeURIComponent(model)}/ready`;
  }
}
