// Every request to the cluster goes through kubectl: it is on every runner and speaks every auth
// plugin (EKS, GKE and AKS exec plugins included), so modelship never handles cluster credentials
// itself. Arguments are passed as a list, never through a shell; objects go in on stdin as JSON.
import { execa } from "execa";
import { checkKubeconfigFiles } from "./kubeconfig-check.js";

export interface KubeAccess {
  /** The kubectl binary (default: MODELSHIP_KUBECTL, else `kubectl` on PATH). */
  kubectl?: string;
  kubeconfig?: string;
  context?: string;
  namespace: string;
}

/** A Kubernetes object as JSON; only what modelship reads is typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The API server's reason for refusing a request, as kubectl prints it: "Error from server (Conflict)". */
export type FailureReason = "NotFound" | "AlreadyExists" | "Conflict" | "Forbidden" | "Invalid" | "Other";

export class KubectlError extends Error {
  constructor(
    message: string,
    readonly reason: FailureReason,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Server-side apply refused a field another manager owns; never forced silently. */
export class ApplyConflictError extends KubectlError {}

const FIELD_MANAGER = "modelship";
const STALE = /the object has been modified/;

/** A write refused because the object changed since it was read (a resourceVersion precondition). */
export const isStale = (error: unknown) =>
  error instanceof KubectlError && !(error instanceof ApplyConflictError) && STALE.test(error.stderr);
const DEFAULT_TIMEOUT_MS = 60_000;
// kubectl output read whole (object lists, logs); a larger answer is a misbehaving server.
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

function reasonOf(stderr: string): FailureReason {
  const match = /Error from server \((\w+)\)/.exec(stderr);
  const reason = match?.[1];
  if (reason === "NotFound" || reason === "AlreadyExists" || reason === "Conflict") return reason;
  if (reason === "Forbidden" || reason === "Invalid") return reason;
  if (/\bnot found\b/i.test(stderr) && !match) return "NotFound";
  return "Other";
}

export class Kubectl {
  readonly namespace: string;
  private readonly binary: string;
  private readonly common: string[];
  private readonly kubeconfig?: string;
  /** The kubeconfig files kubectl will read, checked once before its first run (never a FIFO). */
  private kubeconfigChecked?: Promise<void>;

  constructor(access: KubeAccess) {
    this.namespace = access.namespace;
    this.kubeconfig = access.kubeconfig;
    this.binary = access.kubectl ?? process.env.MODELSHIP_KUBECTL ?? "kubectl";
    this.common = [
      ...(access.kubeconfig ? ["--kubeconfig", access.kubeconfig] : []),
      ...(access.context ? ["--context", access.context] : []),
      "--namespace",
      access.namespace,
    ];
  }

  /** The arguments that reach this cluster and namespace, for a kubectl started elsewhere (port-forward). */
  args(...rest: string[]): { command: string; args: string[] } {
    return { command: this.binary, args: [...this.common, ...rest] };
  }

  /** Runs kubectl; resolves to stdout, or throws a KubectlError naming the command and the server's reason. */
  async run(args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    this.kubeconfigChecked ??= checkKubeconfigFiles(this.kubeconfig);
    await this.kubeconfigChecked;
    let result: Awaited<ReturnType<typeof execa>>;
    try {
      result = await execa(this.binary, [...this.common, ...args], {
        input: options.input ?? "",
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        reject: false,
        maxBuffer: MAX_OUTPUT_BYTES,
        env: { KUBECTL_INTERACTIVE_DELETE: "false" },
      });
    } catch (error) {
      throw new KubectlError(`kubectl could not run: ${(error as Error).message}`, "Other", "");
    }
    if (result.failed) {
      const stderr = String(result.stderr ?? "");
      if ((result as { code?: string }).code === "ENOENT") {
        throw new KubectlError(
          `kubectl was not found (${this.binary}). Fix: install kubectl, or set MODELSHIP_KUBECTL to its path`,
          "Other",
          stderr,
        );
      }
      const what = result.timedOut
        ? `timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`
        : clip(stderr.trim());
      throw new KubectlError(`kubectl ${args.slice(0, 3).join(" ")}: ${what}`, reasonOf(stderr), stderr);
    }
    return String(result.stdout ?? "");
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubeObject = KubeObject>(kind: string, name: string): Promise<T | undefined> {
    try {
      return parseJson<T>(await this.run(["get", kind, name, "-o", "json"]), `${kind}/${name}`);
    } catch (error) {
      if (error instanceof KubectlError && error.reason === "NotFound") return undefined;
      throw error;
    }
  }

  /** Objects of a kind matching a label selector. */
  async list<T extends KubeObject = KubeObject>(kind: string, selector: string): Promise<T[]> {
    const text = await this.run(["get", kind, "-l", selector, "-o", "json"]);
    const list = parseJson<{ items?: T[] }>(text, `${kind} -l ${selector}`);
    return Array.isArray(list.items) ? list.items : [];
  }

  /**
   * Server-side apply with field manager `modelship`. A field another manager owns is refused with
   * who owns it (ApplyConflictError), not forced. `dryRun: "server"` asks the API server to validate
   * and admit without storing.
   */
  async apply(
    objects: KubeObject[],
    options: { dryRun?: "server"; force?: boolean } = {},
  ): Promise<KubeObject[]> {
    if (objects.length === 0) return [];
    const input = JSON.stringify({ apiVersion: "v1", kind: "List", items: objects });
    const args = [
      "apply",
      "--server-side",
      `--field-manager=${FIELD_MANAGER}`,
      "--validate=strict",
      ...(options.dryRun ? ["--dry-run=server"] : []),
      ...(options.force ? ["--force-conflicts"] : []),
      "-o",
      "json",
      "-f",
      "-",
    ];
    let text: string;
    try {
      text = await this.run(args, { input });
    } catch (error) {
      // An object sent with the resourceVersion it was read at, changed since: not a field
      // manager's conflict, but a stale read (reason Conflict) to read again and redo.
      if (error instanceof KubectlError && STALE.test(error.stderr)) {
        throw new KubectlError(
          `server-side apply refused a stale object: ${clip(error.stderr.trim().split("\n")[0] ?? "")}`,
          "Conflict",
          error.stderr,
        );
      }
      if (error instanceof KubectlError && /conflict/i.test(error.stderr)) {
        throw new ApplyConflictError(
          `server-side apply refused: another field manager owns fields modelship sets. ${clip(error.stderr.trim())} ` +
            "Fix: give modelship objects of its own (a route modelship owns whole), or remove the other manager's fields",
          "Conflict",
          error.stderr,
        );
      }
      throw error;
    }
    const applied = parseJson<KubeObject | { items?: KubeObject[] }>(text, "apply");
    return "items" in applied && Array.isArray(applied.items) ? applied.items : [applied as KubeObject];
  }

  /** Creates an object; AlreadyExists is a KubectlError with that reason. */
  async create<T extends KubeObject>(object: T, options: WriteOptions = {}): Promise<T> {
    return parseJson<T>(
      await this.run(["create", ...validation(options), "-o", "json", "-f", "-"], {
        input: JSON.stringify(object),
      }),
      "create",
    );
  }

  /** Replaces an object; with metadata.resourceVersion set, a stale one fails with reason Conflict. */
  async replace<T extends KubeObject>(object: T, options: WriteOptions = {}): Promise<T> {
    return parseJson<T>(
      await this.run(["replace", ...validation(options), "-o", "json", "-f", "-"], {
        input: JSON.stringify(object),
      }),
      "replace",
    );
  }

  async delete(kind: string, nameOrSelector: { name: string } | { selector: string }): Promise<void> {
    const which = "name" in nameOrSelector ? [nameOrSelector.name] : ["-l", nameOrSelector.selector];
    await this.run(["delete", kind, ...which, "--ignore-not-found", "--wait=false"]);
  }
}

export interface WriteOptions {
  /**
   * false: skip kubectl's field validation, which fetches the OpenAPI schema (two more requests,
   * megabytes on a real cluster) before every write. For objects modelship builds itself and
   * writes often (the ledger, the Lease).
   */
  validate?: boolean;
}

const validation = (options: WriteOptions) => (options.validate === false ? ["--validate=false"] : []);

// kubectl's message, whole unless it is a wall of text.
const clip = (text: string, max = 2000) => (text.length > max ? `${text.slice(0, max)}…` : text);

function parseJson<T>(text: string, what: string): T {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null) throw new Error("not an object");
    return value as T;
  } catch (error) {
    throw new KubectlError(`kubectl ${what}: unreadable answer (${(error as Error).message})`, "Other", "");
  }
}
