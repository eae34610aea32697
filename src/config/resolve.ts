// Validated file data → ModelshipConfig: defaults filled in, relative paths made absolute.
import { resolve } from "node:path";
import type { RawConfig } from "./schema.js";
import type { ModelshipConfig } from "./types.js";

export const DEFAULTS = {
  stateDir: ".modelship",
  namespace: "default",
  protocol: "oip",
  rate: 20,
  durationS: 10,
  warmupS: 1,
  trafficRate: 20,
  steps: [
    { weight: 20, durationS: 10 },
    { weight: 50, durationS: 10 },
  ],
} as const;

export function resolveConfig(raw: RawConfig, file: string, dir: string): ModelshipConfig {
  const at = (path: string) => resolve(dir, path);
  const bench = raw.benchmark ?? {};
  const target = raw.target ?? {};
  const gates = raw.gates ?? {};
  return {
    file,
    dir,
    model: { name: raw.model.name, path: at(raw.model.path) },
    image: {
      ...(raw.image?.repository ? { repository: raw.image.repository } : {}),
      ...(raw.image?.base ? { base: raw.image.base } : {}),
    },
    target:
      target.kind === "kubernetes"
        ? {
            kind: "kubernetes",
            namespace: target.namespace ?? DEFAULTS.namespace,
            ...(target.context ? { context: target.context } : {}),
            ...(target.deployment ? { deployment: target.deployment } : {}),
          }
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
    },
    strategy: {
      trafficRate: raw.strategy?.trafficRate ?? DEFAULTS.trafficRate,
      steps: raw.strategy?.steps
        ? raw.strategy.steps.map((step) => ({ weight: step.weight, durationS: step.duration }))
        : DEFAULTS.steps.map((step) => ({ ...step })),
    },
    gates: {
      ...(gates.latency ? { latency: { p95Ms: gates.latency.p95Ms } } : {}),
      ...(gates.errorRate ? { errorRate: { max: gates.errorRate.max } } : {}),
      ...(gates.accuracy
        ? {
            accuracy: {
              evalSet: at(gates.accuracy.evalSet),
              min: gates.accuracy.min,
              output: gates.accuracy.output,
            },
          }
        : {}),
    },
  };
}
