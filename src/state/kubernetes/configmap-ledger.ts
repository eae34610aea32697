// The ledger in a ConfigMap, updated by compare-and-swap on its resourceVersion: a replace that
// carries the version it read is refused with 409 Conflict when another writer got there first,
// and the change is then applied again to what that writer stored.
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import { emptyLedger, type Ledger, parseLedger } from "../ledger.js";
import { capHistory, type HistoryLimits, LedgerTooLargeError } from "./history-cap.js";
import {
  clusterError,
  isReason,
  labelsFor,
  ledgerConfigMapName,
  MANAGED_BY,
  sleep,
  where,
} from "./objects.js";

export const LEDGER_KEY = "ledger.json";

// Writers racing on one ledger each win in turn; twenty losses in a row mean something rewrites
// it in a loop.
const MAX_UPDATE_ATTEMPTS = 20;
// After a lost race, a random pause of up to this much per attempt so that racers fall out of step.
const BACKOFF_STEP_MS = 40;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

export class ConfigMapLedger {
  readonly configMap: string;
  readonly location: string;

  constructor(
    private readonly kubectl: Kubectl,
    readonly name: string,
    private readonly limits?: HistoryLimits,
  ) {
    this.configMap = ledgerConfigMapName(name);
    this.location = where("configmap", this.configMap, kubectl.namespace);
  }

  async read(): Promise<Ledger> {
    const stored = await this.get();
    return stored ? this.parse(stored) : emptyLedger();
  }

  async update(change: (ledger: Ledger) => Ledger): Promise<Ledger> {
    for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt++) {
      const stored = await this.get();
      const next = change(stored ? this.parse(stored) : emptyLedger());
      const { ledger, text } = this.cap(next);
      try {
        if (stored) await this.replace(stored, text);
        else await this.create(text);
        return ledger;
      } catch (error) {
        // Conflict: written since we read it. AlreadyExists: created since we found none.
        if (!isReason(error, "Conflict") && !isReason(error, "AlreadyExists")) throw error;
        await sleep(Math.random() * BACKOFF_STEP_MS * attempt);
      }
    }
    throw new Error(
      `${this.location}: the ledger kept changing while this run updated it (${MAX_UPDATE_ATTEMPTS} attempts, ` +
        "each refused because another writer had stored a newer version). Fix: find what rewrites the " +
        `ConfigMap in a loop (kubectl get configmap ${this.configMap} --show-managed-fields -o yaml)`,
    );
  }

  private async get(): Promise<ConfigMap | undefined> {
    try {
      return await this.kubectl.get<ConfigMap>("configmap", this.configMap);
    } catch (error) {
      throw clusterError(error, "get", this.location);
    }
  }

  private async create(text: string): Promise<void> {
    const object: ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: this.configMap, labels: labelsFor(this.name) },
      data: { [LEDGER_KEY]: text },
    };
    try {
      await this.kubectl.create(object, { validate: false });
    } catch (error) {
      if (isReason(error, "AlreadyExists")) throw error;
      throw clusterError(error, "create", this.location);
    }
  }

  /** Replaces the ledger key only; other keys and labels someone added stay. */
  private async replace(stored: ConfigMap, text: string): Promise<void> {
    const { managedFields: _, ...metadata } = stored.metadata;
    const object: ConfigMap = {
      ...stored,
      metadata: { ...metadata, labels: { ...stored.metadata.labels, ...labelsFor(this.name) } },
      data: { ...stored.data, [LEDGER_KEY]: text },
    };
    try {
      await this.kubectl.replace(object, { validate: false });
    } catch (error) {
      if (isReason(error, "Conflict")) throw error;
      throw clusterError(error, "update", this.location);
    }
  }

  private cap(ledger: Ledger): { ledger: Ledger; text: string } {
    try {
      return capHistory(ledger, this.limits);
    } catch (error) {
      if (!(error instanceof LedgerTooLargeError)) throw error;
      throw new Error(
        `${this.location}: ${error.message}. Nothing was written. Fix: keep this deployment's ledger ` +
          "as it is and deploy under a new name, which starts a ledger of its own",
      );
    }
  }

  /** The stored ledger, or a clear refusal: a ConfigMap that is not a ledger is never overwritten. */
  private parse(stored: ConfigMap): Ledger {
    const fix =
      `Fix: look at it (kubectl get configmap ${this.configMap} -n ${this.kubectl.namespace} -o yaml); ` +
      "restore the ledger from a backup, or delete the ConfigMap to start a new ledger (the revisions " +
      "it recorded are then forgotten)";
    const [label, value] = Object.entries(MANAGED_BY)[0] as [string, string];
    if (stored.metadata.labels?.[label] !== value) {
      throw new Error(
        `${this.location} exists but is not a modelship ledger (no label ${label}=${value}), so it is ` +
          "left alone. Fix: rename or delete that ConfigMap, or deploy under another name",
      );
    }
    const text = stored.data?.[LEDGER_KEY];
    if (text === undefined) throw new Error(`${this.location} has no "${LEDGER_KEY}" key. ${fix}`);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(`${this.location}: "${LEDGER_KEY}" is not valid JSON. ${fix}`);
    }
    const parsed = parseLedger(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(
        `${this.location}: the ledger is damaged at ${issue?.path.join(".") || "top level"} (${issue?.message}). ${fix}`,
      );
    }
    return parsed.data;
  }
}
