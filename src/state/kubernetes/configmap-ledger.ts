// The ledger in a ConfigMap, updated by compare-and-swap on its resourceVersion: a replace that
// carries the version it read is refused with 409 Conflict when another writer got there first,
// and the change is then applied again to what that writer stored.
//
// The previous generation is kept in the same ConfigMap, under PREVIOUS_KEY: each replace moves
// the text it replaces there, in the same write (so the two never disagree about which came
// first). A damaged ledger can then be put back one step with a JSON patch that copies that key
// over the ledger's. Both texts are capped (history-cap.ts) to half of the 1 MiB a ConfigMap may
// hold; when other keys leave no room for both, the previous generation is dropped rather than
// the write refused, and a later error says none is kept.
import type { Kubectl, KubeObject } from "../../kube/kubectl.js";
import { emptyLedger, type Ledger, ledgerSummary, parseLedger } from "../ledger.js";
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
/** The ledger as it was before the last change (one generation). */
export const PREVIOUS_KEY = "ledger.prev.json";
// What the API server accepts in a ConfigMap's values, all keys together (1 MiB), less a margin.
const MAX_CONFIGMAP_DATA_BYTES = 1024 * 1024 - 4096;

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
      // Nothing changed: nothing written, and the previous generation stays the one before.
      if (stored && stored.data?.[LEDGER_KEY] === text) return ledger;
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

  /**
   * Replaces the ledger key, keeping what it held under PREVIOUS_KEY; other keys and labels
   * someone added stay.
   */
  private async replace(stored: ConfigMap, text: string): Promise<void> {
    const { managedFields: _, ...metadata } = stored.metadata;
    const { [PREVIOUS_KEY]: _older, ...data } = stored.data ?? {};
    const previous = stored.data?.[LEDGER_KEY];
    const withPrevious = { ...data, [LEDGER_KEY]: text, ...(previous ? { [PREVIOUS_KEY]: previous } : {}) };
    const size = (values: Record<string, string>) =>
      Object.values(values).reduce((n, v) => n + Buffer.byteLength(v), 0);
    const object: ConfigMap = {
      ...stored,
      metadata: { ...metadata, labels: { ...stored.metadata.labels, ...labelsFor(this.name) } },
      data: size(withPrevious) <= MAX_CONFIGMAP_DATA_BYTES ? withPrevious : { ...data, [LEDGER_KEY]: text },
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
    const fix = `Fix: ${this.restoreFix(stored)}`;
    const [label, value] = Object.entries(MANAGED_BY)[0] as [string, string];
    if (stored.metadata.labels?.[label] !== value) {
      throw new Error(
        `${this.location} exists but is not a modelship ledger (no label ${label}=${value}), so it is ` +
          "left alone. Fix: rename or delete that ConfigMap, or deploy under another name",
      );
    }
    const text = stored.data?.[LEDGER_KEY];
    if (text === undefined) throw new Error(`${this.location} has no "${LEDGER_KEY}" key. ${fix}`);
    const parsed = parseText(text);
    if (typeof parsed === "string") throw new Error(`${this.location}: ${parsed}. ${fix}`);
    return parsed;
  }

  /** How to recover a damaged ledger: the previous generation in PREVIOUS_KEY when it is a good one. */
  private restoreFix(stored: ConfigMap): string {
    const ns = this.kubectl.namespace;
    const look = `look at it (kubectl get configmap ${this.configMap} -n ${ns} -o yaml)`;
    const startOver = `delete the ConfigMap to start a new ledger (the revisions it recorded are then forgotten)`;
    const previous = stored.data?.[PREVIOUS_KEY];
    if (previous === undefined) {
      return `${look}; no earlier generation is kept (no "${PREVIOUS_KEY}" key: the ledger was written only once, or by an older modelship, or other keys left no room for it); ${startOver}`;
    }
    const parsed = parseText(previous, PREVIOUS_KEY);
    if (typeof parsed === "string") {
      return `${look}; the earlier generation in "${PREVIOUS_KEY}" is damaged too (${parsed}); ${startOver}`;
    }
    const patch = JSON.stringify([
      { op: "copy", from: `/data/${PREVIOUS_KEY}`, path: `/data/${LEDGER_KEY}` },
    ]);
    return (
      `the ledger before its last change is kept in the same ConfigMap under "${PREVIOUS_KEY}" (${ledgerSummary(parsed)}): ` +
      `restore it with kubectl patch configmap ${this.configMap} -n ${ns} --type json -p '${patch}' ` +
      `(the last change is then lost: check modelship status), or ${startOver}`
    );
  }
}

/** The ledger in `text`, or what is wrong with it. */
function parseText(text: string, key = LEDGER_KEY): Ledger | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return `"${key}" is not valid JSON`;
  }
  const parsed = parseLedger(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `the ledger is damaged at ${issue?.path.join(".") || "top level"} (${issue?.message})`;
  }
  return parsed.data;
}
