/** modelship.yml fully resolved: defaults applied, paths absolute, durations in seconds. */
export interface ModelshipConfig {
  /** Absolute path of the config file; "" when the config came from overrides only. */
  file: string;
  /** Directory that relative paths were resolved against. */
  dir: string;
  model: { name: string; path: string };
  image: { repository?: string; base?: string };
  target:
    | { kind: "local"; stateDir: string }
    | { kind: "kubernetes"; namespace: string; context?: string; deployment?: string };
  benchmark: {
    input?: string;
    protocol: "oip" | "json";
    mode: { kind: "rate"; rps: number } | { kind: "concurrency"; connections: number };
    durationS: number;
    warmupS: number;
  };
  strategy: { trafficRate: number; steps: { weight: number; durationS: number }[] };
  gates: {
    latency?: { p95Ms: number };
    errorRate?: { max: number };
    accuracy?: { evalSet: string; min: number; output: string };
  };
}
