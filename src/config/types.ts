import type { RuntimeSpec } from "../image/presets.js";
import type { ValidationPolicy } from "../model/policy.js";

export type RouterConfig =
  | { kind: "replicas" }
  | {
      kind: "gateway-api";
      route: string;
      gateway: { name: string; namespace?: string; sectionName?: string };
      hostnames: string[];
    }
  | { kind: "istio"; host?: string; gateways: string[] }
  | { kind: "kserve"; inferenceService: string; modelFormat: string };

export interface KubernetesTargetConfig {
  kind: "kubernetes";
  namespace: string;
  /** Name of the stable Deployment (the canary is <deployment>-canary); default model.name. */
  deployment: string;
  context?: string;
  kubeconfig?: string;
  router: RouterConfig;
  /** Stable replicas, kept during the canary so a revert is instant. */
  replicas: number;
  /** The container port the model server listens on. */
  port: number;
  /** HTTP path that answers 200 once the model (not only the process) is ready. */
  readinessPath: string;
  /** The name the image's server knows the model by (/v2/models/<name>): image.runtime.name, Triton's "model", else model.name. */
  servedName: string;
  /** How long a pod may take to load its model before it counts as failed. */
  startupTimeoutS: number;
  resources: { cpu?: string; memory?: string; gpu?: number };
  nodeSelector: Record<string, string>;
  tolerations: { key?: string; operator?: "Exists" | "Equal"; value?: string; effect?: string }[];
  imagePullSecrets: string[];
  /** A Deployment manifest (absolute path) that modelship's fields are overlaid on. */
  template?: string;
  prometheus?: { url: string };
  leaseDurationS: number;
  lockWaitS: number;
}

/** modelship.yml fully resolved: defaults applied, paths absolute, durations in seconds. */
export interface ModelshipConfig {
  /** Absolute path of the config file; "" when the config came from overrides only. */
  file: string;
  /** Directory that relative paths were resolved against. */
  dir: string;
  model: { name: string; path: string };
  image: {
    repository?: string;
    base?: string;
    /** Push the built image to `repository` (default); false keeps it in the local OCI layout. */
    push: boolean;
    insecureRegistries?: string[];
    /** os/arch[/variant]; two or more give an OCI image index. */
    platforms?: string[];
    runtime?: RuntimeSpec;
    /** Default daemonless (the model appended as a layer); docker runs `docker buildx build`. */
    builder?: "daemonless" | "docker";
    /** builder docker: absolute paths. */
    dockerfile?: string;
    context?: string;
  };
  target: { kind: "local"; stateDir: string } | KubernetesTargetConfig;
  benchmark: {
    input?: string;
    protocol: "oip" | "json";
    mode: { kind: "rate"; rps: number } | { kind: "concurrency"; connections: number };
    durationS: number;
    warmupS: number;
    timeoutMs?: number;
    headers?: Record<string, string>;
    /** Environment variable holding a bearer token (the token itself never sits in the file). */
    tokenEnv?: string;
    /** k6-style, e.g. "p95 < 200", "errors < 1%"; checked when the config is loaded. */
    thresholds?: string[];
    /** An earlier benchmark JSON report to compare with; maxRegression is a fraction (0.1 = 10% worse fails). */
    baseline?: { file: string; maxRegression: number };
  };
  strategy: {
    trafficRate: number;
    steps: { weight: number; durationS: number }[];
    /** Seconds between looks during a step (0: only at its end). */
    lookIntervalS: number;
    maxExtensions: number;
    /** Requests to the canary alone before its first step, not judged. */
    warmupRequests: number;
  };
  gates: {
    /** The whole rollout's false-revert budget, split across looks and gates. */
    alpha: number;
    minRequests: number;
    /** p95Ms: absolute bound; maxIncreasePct / minIncreaseMs: allowed increase over the stable; critical*: aborts during a step. */
    latency?: {
      p95Ms: number;
      maxIncreasePct: number;
      minIncreaseMs: number;
      criticalIncreasePct: number;
      criticalIncreaseMs: number;
    };
    errorRate?: { max: number; critical: number };
    accuracy?: {
      evalSet: string;
      min?: number;
      output: string;
      task: "classification" | "regression";
      margin: number;
      alpha: number;
      metric: "mae" | "rmse";
    };
    agreement?: { min?: number; tolerance: number };
    /** `url` absent: the kubernetes target's `prometheus.url`. */
    prometheus?: { url?: string; queries: { name: string; query: string; max?: number; min?: number }[] };
  };
  /** Defaults from DEFAULT_POLICY where the file says nothing. */
  validation: ValidationPolicy;
}
