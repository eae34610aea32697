// The shape of modelship.yml as written by users. Objects are strict so that typos are errors, not
// silently ignored settings. Durations are converted to seconds here; defaults and paths are applied in
// resolve.ts, because zod v4 returns `.default()` values without validating them.
import * as z from "zod";
import { parseRegression } from "../bench/baseline.js";
import { parseThreshold } from "../bench/thresholds.js";
import { RUNTIME_PRESETS } from "../image/presets.js";
import { tensorFromNested } from "../model/smoke-inputs.js";
import { MIN_SMOKE_MEMORY_BYTES } from "../model/smoke-limits.js";
import { parseDuration } from "./duration.js";
import { parseSize } from "./size.js";

// Other modules import the public types from here too.
export type { ConfigOverrides } from "./overrides.js";
export type { ModelshipConfig } from "./types.js";

export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// distribution/reference: optional registry host[:port]/, then lowercase path components; no tag, no digest.
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
export const REPOSITORY_PATTERN = new RegExp(
  `^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?/)?${COMPONENT}(?:/${COMPONENT})*$`,
);
const IMAGE_REF_PATTERN = /^[^\s]+$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const LIMITS = {
  maxRps: 100_000,
  maxConnections: 10_000,
  maxSteps: 100,
  maxP95Ms: 3_600_000,
  maxPathLength: 4096,
} as const;

const path = z
  .string()
  .min(1)
  .max(LIMITS.maxPathLength)
  .refine((value) => !value.includes("\0"), { message: "contains a NUL byte" });

function duration(options: { allowZero?: boolean } = {}) {
  return z.unknown().transform((value, ctx) => {
    if (value === undefined || value === null) {
      ctx.issues.push({ code: "custom", message: "is required", input: value });
      return z.NEVER;
    }
    if (typeof value !== "number" && typeof value !== "string") {
      ctx.issues.push({
        code: "custom",
        message: `must be a number or a string, got ${typeof value}`,
        input: value,
      });
      return z.NEVER;
    }
    try {
      return parseDuration(value, options);
    } catch (error) {
      ctx.issues.push({ code: "custom", message: (error as Error).message, input: value });
      return z.NEVER;
    }
  });
}

const model = z.strictObject({
  name: z.string().max(63).regex(NAME_PATTERN),
  path,
});

const runtime = z.strictObject({
  preset: z.enum(RUNTIME_PRESETS),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/)
    .nullish(),
  version: z
    .union([z.number().int().min(1), z.string().regex(/^[1-9][0-9]{0,8}$/)])
    .transform(String)
    .nullish(),
  path: z.string().startsWith("/").max(LIMITS.maxPathLength).nullish(),
  args: z.array(z.string().max(4096)).max(100).nullish(),
  env: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .max(256),
      z.string().max(8192),
    )
    .nullish(),
  port: z.number().int().min(1).max(65535).nullish(),
});

const image = z
  .strictObject({
    repository: z.string().max(255).regex(REPOSITORY_PATTERN).nullish(),
    base: z.string().min(1).max(512).regex(IMAGE_REF_PATTERN).nullish(),
    /** false: build into the local OCI layout only; true (default): push, and fail when the push fails. */
    push: z.boolean().nullish(),
    /** Registries (HOST:PORT) reached over plain http, e.g. a local registry. */
    insecureRegistries: z
      .array(
        z
          .string()
          .max(262)
          .regex(/^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$/, "expected HOST or HOST:PORT"),
      )
      .max(32)
      .nullish(),
    /** Platforms to build from the base's index; two or more give an OCI image index. */
    platforms: z
      .array(
        z
          .string()
          .regex(/^[a-z0-9]{1,32}\/[a-z0-9]{1,32}(?:\/[a-z0-9]{1,32})?$/, "expected os/arch[/variant]"),
      )
      .min(1)
      .max(16)
      .refine((list) => new Set(list).size === list.length, { message: "lists a platform twice" })
      .nullish(),
    /** A runtime preset name, or a mapping with the preset and its settings. */
    runtime: z
      .preprocess((value) => (typeof value === "string" ? { preset: value } : value), runtime)
      .nullish(),
    builder: z.enum(["daemonless", "docker"]).nullish(),
    /** builder docker: the Dockerfile and the build context, relative to the config file. */
    dockerfile: path.nullish(),
    context: path.nullish(),
  })
  .superRefine((value, ctx) => {
    // Each builder's own keys are refused for the other, so no setting is silently ignored.
    const docker = value.builder === "docker";
    const wrong = docker ? (["base", "runtime"] as const) : (["dockerfile", "context"] as const);
    for (const key of wrong) {
      if (value[key] != null) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: docker
            ? `${key} applies to the daemonless builder; with builder: docker the Dockerfile decides it`
            : `${key} applies to builder: docker only`,
        });
      }
    }
  });

const localTarget = z.strictObject({
  kind: z.literal("local").optional(),
  stateDir: path.nullish(),
});

// Kubernetes resource quantities ("500m", "2Gi", "1.5"); the API server has the last word.
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
// A label key (optional DNS-subdomain prefix, then a name) and value.
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const dnsName = z.string().max(63).regex(NAME_PATTERN);

const gatewayApiRouter = z.strictObject({
  kind: z.literal("gateway-api"),
  /** The HTTPRoute modelship owns whole (default <deployment>). */
  route: dnsName.nullish(),
  gateway: z.strictObject({
    name: dnsName,
    namespace: dnsName.nullish(),
    sectionName: z.string().max(253).regex(DNS_SUBDOMAIN).nullish(),
  }),
  hostnames: z
    .array(
      z
        .string()
        .max(253)
        .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/),
    )
    .max(16)
    .nullish(),
});

const istioRouter = z.strictObject({
  kind: z.literal("istio"),
  /** The host clients call (default the Service's name). */
  host: z.string().max(253).regex(DNS_SUBDOMAIN).nullish(),
  gateways: z
    .array(
      z
        .string()
        .max(253)
        .regex(/^([a-z0-9-]+\/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/),
    )
    .max(16)
    .nullish(),
});

const kserveRouter = z.strictObject({
  kind: z.literal("kserve"),
  /** The InferenceService modelship owns (default <deployment>). */
  inferenceService: dnsName.nullish(),
  /** predictor.model.modelFormat.name (default onnx). */
  modelFormat: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .nullish(),
});

const router = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("replicas") }),
  gatewayApiRouter,
  istioRouter,
  kserveRouter,
]);

const toleration = z.strictObject({
  key: z.string().max(316).regex(LABEL_KEY).nullish(),
  operator: z.enum(["Exists", "Equal"]).nullish(),
  value: z.string().max(63).regex(LABEL_VALUE).nullish(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).nullish(),
});

const kubernetesTarget = z.strictObject({
  kind: z.literal("kubernetes"),
  namespace: dnsName.nullish(),
  deployment: dnsName.nullish(),
  context: z.string().min(1).max(253).nullish(),
  kubeconfig: path.nullish(),
  router: router.nullish(),
  replicas: z.number().int().min(1).max(1000).nullish(),
  port: z.number().int().min(1).max(65535).nullish(),
  readinessPath: z
    .string()
    .startsWith("/")
    .max(1024)
    .regex(/^[\x21-\x7e]+$/)
    .nullish(),
  startupTimeout: duration().nullish(),
  resources: z
    .strictObject({
      cpu: z.string().regex(QUANTITY).nullish(),
      memory: z.string().regex(QUANTITY).nullish(),
      gpu: z.number().int().min(0).max(64).nullish(),
    })
    .nullish(),
  nodeSelector: z
    .record(z.string().max(316).regex(LABEL_KEY), z.string().max(63).regex(LABEL_VALUE))
    .nullish(),
  tolerations: z.array(toleration).max(32).nullish(),
  imagePullSecrets: z.array(z.string().max(253).regex(DNS_SUBDOMAIN)).max(16).nullish(),
  template: path.nullish(),
  prometheus: z.strictObject({ url: z.url({ protocol: /^https?$/ }) }).nullish(),
  /** The deploy lock's Lease: a holder not seen renewing for this long is taken over. */
  leaseDuration: duration().nullish(),
  /** How long a deploy waits for another one's lock before failing. */
  lockWait: duration({ allowZero: true }).nullish(),
});

const target = z.discriminatedUnion("kind", [localTarget, kubernetesTarget]);

// An RFC 7230 token, and a POSIX environment variable name.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A string checked by `parse`, whose error message becomes the issue. */
function checked<T>(parse: (value: string) => T) {
  return z.string().transform((value, ctx) => {
    try {
      return parse(value);
    } catch (error) {
      ctx.issues.push({ code: "custom", message: (error as Error).message, input: value });
      return z.NEVER;
    }
  });
}

const benchmark = z.strictObject({
  input: path.nullish(),
  protocol: z.enum(["oip", "json"]).nullish(),
  rate: z.number().gt(0).max(LIMITS.maxRps).nullish(),
  concurrency: z.number().int().min(1).max(LIMITS.maxConnections).nullish(),
  duration: duration().nullish(),
  warmup: duration({ allowZero: true }).nullish(),
  timeout: duration().nullish(),
  headers: z.record(z.string().regex(HEADER_NAME).max(256), z.string().max(8192)).nullish(),
  tokenEnv: z.string().regex(ENV_NAME).max(256).nullish(),
  thresholds: z
    .array(checked(parseThreshold).transform((t) => t.text))
    .max(50)
    .nullish(),
  baseline: path.nullish(),
  maxRegression: z.union([z.string(), z.number()]).transform(String).pipe(checked(parseRegression)).nullish(),
});

const step = z.strictObject({
  weight: z.number().int().min(1).max(100),
  duration: duration(),
});

const strategy = z.strictObject({
  trafficRate: z.number().gt(0).max(LIMITS.maxRps).nullish(),
  steps: z.array(step).min(1).max(LIMITS.maxSteps).nullish(),
  /** Time between looks during a step (early abort); 0 looks only at each step's end. */
  lookInterval: duration({ allowZero: true }).nullish(),
  /** Times an inconclusive step (too little traffic) is extended before the canary is reverted. */
  maxExtensions: z.number().int().min(0).max(10).nullish(),
  /** Requests sent to the canary alone before its first step, to spend its cold start unjudged. */
  warmup: z.number().int().min(0).max(10_000).nullish(),
});

const promqlQuery = z.strictObject({
  name: z.string().min(1).max(128),
  query: z.string().min(1).max(8192),
  max: z.number().nullish(),
  min: z.number().nullish(),
});

const gates = z.strictObject({
  /** The whole rollout's false-revert budget for a canary as good as the stable. */
  alpha: z.number().gt(0).max(0.2).nullish(),
  /** Fewer requests than this on a side and a traffic gate is inconclusive. */
  minRequests: z.number().int().min(1).max(1_000_000).nullish(),
  latency: z
    .strictObject({
      p95Ms: z.number().gt(0).max(LIMITS.maxP95Ms),
      /** Canary against stable: the allowed increase, the larger of this percentage and these milliseconds. */
      maxIncreasePct: z.number().gt(0).max(1000).nullish(),
      minIncreaseMs: z.number().min(0).max(LIMITS.maxP95Ms).nullish(),
      /** The critical increase that aborts during a step. */
      criticalIncreasePct: z.number().gt(0).max(100_000).nullish(),
      criticalIncreaseMs: z.number().min(0).max(LIMITS.maxP95Ms).nullish(),
    })
    .nullish(),
  errorRate: z
    .strictObject({ max: z.number().min(0).max(1), critical: z.number().gt(0).max(1).nullish() })
    .nullish(),
  accuracy: z
    .strictObject({
      evalSet: path,
      min: z.number().min(0).max(1).nullish(),
      output: z.string().min(1).max(256),
      task: z.enum(["classification", "regression"]).nullish(),
      margin: z.number().gt(0).max(1e9).nullish(),
      alpha: z.number().gt(0).max(0.5).nullish(),
      metric: z.enum(["mae", "rmse"]).nullish(),
    })
    .nullish(),
  agreement: z
    .strictObject({ min: z.number().min(0).max(1).nullish(), tolerance: z.number().min(0).nullish() })
    .nullish(),
  prometheus: z
    .strictObject({
      /** Default: target.prometheus.url of a kubernetes target. */
      url: z
        .string()
        .regex(/^https?:\/\/\S+$/, "must be an http(s) URL")
        .nullish(),
      queries: z.array(promqlQuery).min(1).max(50),
    })
    .nullish(),
});

/** A byte count: a number of bytes or "500MB", "2GiB", read by the parser CLI flags use too. */
const size = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseSize(value);
  } catch (error) {
    ctx.issues.push({ code: "custom", message: (error as Error).message, input: value });
    return z.NEVER;
  }
});

/** Values in one validation.smoke.inputs tensor: a request, not a data set. */
const MAX_SMOKE_INPUT_VALUES = 1_000_000;
/** A tensor written as nested lists of numbers (booleans for BOOL), e.g. [[5.1, 3.5, 1.4, 0.2]]. */
type SmokeValue = number | boolean | SmokeValue[];
const smokeValue: z.ZodType<SmokeValue> = z.lazy(() =>
  z.union([z.number(), z.boolean(), z.array(smokeValue).max(MAX_SMOKE_INPUT_VALUES)]),
);
const smokeTensor = smokeValue.transform((value, ctx) => {
  const tensor = tensorFromNested(value);
  if (typeof tensor === "string") {
    ctx.issues.push({ code: "custom", message: tensor, input: value });
    return z.NEVER;
  }
  if (tensor.values.length > MAX_SMOKE_INPUT_VALUES) {
    ctx.issues.push({
      code: "custom",
      message: `holds ${tensor.values.length} values, more than ${MAX_SMOKE_INPUT_VALUES}`,
      input: value,
    });
    return z.NEVER;
  }
  return tensor;
});

const smoke = z.strictObject({
  timeout: duration().nullish(),
  memory: size
    .refine((bytes) => bytes >= MIN_SMOKE_MEMORY_BYTES, {
      message: `must be at least ${MIN_SMOKE_MEMORY_BYTES / 2 ** 20}MiB`,
    })
    .nullish(),
  maxOutput: size.nullish(),
  inputs: z.record(z.string().min(1).max(512), smokeTensor).nullish(),
});

const validation = z.strictObject({
  formats: z
    .array(z.enum(["onnx", "safetensors", "pickle", "pytorch", "gguf", "numpy", "savedmodel"]))
    .min(1)
    .nullish(),
  maxSize: size.nullish(),
  pickle: z.enum(["warn", "strict"]).nullish(),
  allowGlobals: z
    .array(
      z
        .string()
        .min(3)
        .max(512)
        .regex(/^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$/),
    )
    .max(1000)
    .nullish(),
  requiredFiles: z.array(path).max(1000).nullish(),
  allowBreakingChanges: z.boolean().nullish(),
  smokeRun: z.boolean().nullish(),
  smoke: smoke.nullish(),
});

export const configSchema = z.strictObject({
  model,
  image: image.nullish(),
  target: target.nullish(),
  benchmark: benchmark.nullish(),
  strategy: strategy.nullish(),
  gates: gates.nullish(),
  validation: validation.nullish(),
});

export type RawConfig = z.output<typeof configSchema>;

export interface CrossFieldIssue {
  path: (string | number)[];
  message: string;
}

/**
 * Rules across keys, checked on the unvalidated data so they are reported together with every other
 * problem (zod skips refinements of an object when one of its fields already failed).
 */
export function crossFieldIssues(data: unknown): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];
  const bench = field(data, "benchmark");
  if (field(bench, "rate") != null && field(bench, "concurrency") != null) {
    issues.push({
      path: ["benchmark", "concurrency"],
      message: "rate and concurrency are both set; give exactly one",
    });
  }
  const steps = field(field(data, "strategy"), "steps");
  if (Array.isArray(steps)) {
    let previous: number | undefined;
    steps.forEach((step, i) => {
      const weight = field(step, "weight");
      if (typeof weight !== "number" || !Number.isFinite(weight)) return;
      if (previous !== undefined && weight <= previous) {
        issues.push({
          path: ["strategy", "steps", i, "weight"],
          message: `weight ${weight} is not greater than the previous step's weight ${previous}`,
        });
      }
      previous = weight;
    });
  }
  const gates = field(data, "gates");
  const accuracy = field(gates, "accuracy");
  if (field(accuracy, "task") === "regression" && field(accuracy, "margin") == null) {
    issues.push({
      path: ["gates", "accuracy", "task"],
      message:
        "a regression eval set needs gates.accuracy.margin: how much higher the canary's error may be, in the output's unit",
    });
  }
  if (field(accuracy, "task") === "regression" && field(accuracy, "min") != null) {
    issues.push({
      path: ["gates", "accuracy", "min"],
      message: "min is an accuracy (classification); a regression eval set is judged by margin",
    });
  }
  if (field(gates, "agreement") != null && accuracy == null) {
    issues.push({
      path: ["gates", "agreement"],
      message: "agreement is measured on the eval set: set gates.accuracy too",
    });
  }
  const prometheus = field(gates, "prometheus");
  if (
    prometheus != null &&
    field(prometheus, "url") == null &&
    field(field(field(data, "target"), "prometheus"), "url") == null
  ) {
    issues.push({
      path: ["gates", "prometheus"],
      message:
        "no Prometheus to ask: set gates.prometheus.url (or target.prometheus.url on a kubernetes target)",
    });
  }
  const queries = field(prometheus, "queries");
  if (Array.isArray(queries)) {
    queries.forEach((query, i) => {
      if (field(query, "max") == null && field(query, "min") == null) {
        issues.push({
          path: ["gates", "prometheus", "queries", i],
          message: "give max, min or both: the value the query must stay within",
        });
      }
    });
  }
  return issues;
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, key)
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

interface Def {
  type: string;
  shape?: Record<string, { _zod: { def: Def } }>;
  innerType?: { _zod: { def: Def } };
  element?: { _zod: { def: Def } };
  options?: { _zod: { def: Def } }[];
  in?: { _zod: { def: Def } };
  out?: { _zod: { def: Def } };
}

/** Keys allowed in the mapping at `path` (array indices skipped), for "did you mean" suggestions. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  let defs: Def[] = [configSchema._zod.def as unknown as Def];
  for (const segment of path) {
    if (typeof segment === "number") {
      defs = defs.flatMap(unwrap).flatMap((def) => (def.element ? [def.element._zod.def] : []));
      continue;
    }
    defs = defs
      .flatMap(unwrap)
      .flatMap((def) => (def.shape?.[String(segment)] ? [def.shape[String(segment)]?._zod.def as Def] : []));
  }
  const keys = new Set<string>();
  for (const def of defs.flatMap(unwrap)) for (const key of Object.keys(def.shape ?? {})) keys.add(key);
  return [...keys];
}

function unwrap(def: Def): Def[] {
  if (def.innerType) return unwrap(def.innerType._zod.def);
  if (def.type === "union" && def.options) return def.options.flatMap((option) => unwrap(option._zod.def));
  if (def.type === "pipe" && def.in && def.out)
    return [...unwrap(def.in._zod.def), ...unwrap(def.out._zod.def)];
  return [def];
}
