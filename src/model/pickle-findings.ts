// Findings for what the pickle walker and the .npy reader found: one finding per dangerous or unknown
// global, per kind of hazard, per malformed stream; for NumPy arrays, the header's problems and the
// object arrays np.load only reads with allow_pickle=True (whose pickle is judged like any other).
import type { Finding } from "./findings.js";
import type { NpyInspection } from "./npy.js";
import type { HazardCode, PickleWalk } from "./pickle.js";
import { parsed } from "./pickle-detect.js";
import { judgeGlobal } from "./pickle-policy.js";
import type { ValidationPolicy } from "./policy.js";

// What each kind of hazard means for whoever loads the file, leading its finding's message.
const HAZARD_LEADS: Record<HazardCode, string> = {
  PICKLE_HAZARD: "does what no checkpoint writer does and no static scan can judge",
  PICKLE_FRAME_STRADDLE:
    "has opcodes that cross protocol 4 frame boundaries, which CPython reads differently from a buffer, from a file and in pure Python, so no scan can tell what loading it imports (no pickler writes this; a known scanner bypass)",
  PICKLE_PROTO_MISPLACED: "has a PROTO opcode out of place, which no pickler writes (a hand-edited stream)",
  PICKLE_EXPANSION:
    "makes the loader build far more than the file holds, a denial of service on whatever loads or walks it",
};

/** Findings for one pickle walk; `member` names the archive member when the pickle sits in a zip. */
export function judgePickle(
  walk: PickleWalk,
  file: string,
  policy: ValidationPolicy,
  member?: string,
): Finding[] {
  const where = member ? `${file} (${member})` : file;
  const findings: Finding[] = [];
  const extra = member ? { key: member } : {};
  for (const g of walk.globals) {
    const global = `${g.module}.${g.name}`;
    const { verdict, why } = judgeGlobal(g.module, g.name, policy.allowGlobals);
    if (verdict === "dangerous") {
      findings.push({
        severity: "error",
        code: "PICKLE_GLOBAL_DANGEROUS",
        message: `${where} imports ${global} (${g.opcode} at byte ${g.offset}), which ${why}; loading this file runs attacker-chosen code. Re-save the weights as safetensors`,
        file,
        global,
        offset: g.offset,
        ...extra,
      });
    } else if (verdict === "unknown") {
      const strict = policy.pickle === "strict";
      findings.push({
        severity: strict ? "error" : "warning",
        code: "PICKLE_GLOBAL_UNKNOWN",
        message: `${where} imports ${global} (${g.opcode} at byte ${g.offset}), which is ${why}; review it and add it to validation.allowGlobals${strict ? " (rejected under validation.pickle: strict)" : ""}`,
        file,
        global,
        offset: g.offset,
        ...extra,
      });
    }
  }
  for (const ext of walk.extensions) {
    findings.push({
      severity: "error",
      code: "PICKLE_EXTENSION_CODE",
      message: `${where} imports a global through copyreg extension code ${ext.code} (byte ${ext.offset}), which resolves to whatever the loading process registered and cannot be checked`,
      file,
      offset: ext.offset,
      ...extra,
    });
  }
  // EXT opcodes are hazards too; they already have their own finding above.
  const extensionAt = new Set(walk.extensions.map((e) => e.offset));
  const hazards = walk.hazards.filter((h) => !extensionAt.has(h.offset));
  for (const code of Object.keys(HAZARD_LEADS) as HazardCode[]) {
    const ofCode = hazards.filter((h) => h.code === code);
    const first = ofCode[0];
    if (!first) continue;
    const shown = ofCode.slice(0, 5).map((h) => h.message);
    if (ofCode.length > shown.length) shown.push(`${ofCode.length - shown.length} more`);
    findings.push({
      severity: "error",
      code,
      message: `${where} ${HAZARD_LEADS[code]}: ${shown.join("; ")}`,
      file,
      offset: first.offset,
      ...extra,
    });
  }
  if (walk.error && !parsed(walk)) {
    const joblib = walk.globals.some((g) => g.name === "NumpyArrayWrapper");
    findings.push({
      severity: "error",
      code: "PICKLE_MALFORMED",
      message: `${where} is not a valid pickle: ${walk.error.message}${joblib ? " (joblib arrays are accepted only in the layout joblib ≥ 1.2 writes, uncompressed: re-save with joblib.dump(model, path) from joblib ≥ 1.2)" : ""}`,
      file,
      offset: walk.error.offset,
      ...extra,
    });
  } else if (walk.trailingBytes > 0 && !walk.legacyTorch) {
    findings.push({
      severity: "warning",
      code: "PICKLE_TRAILING_DATA",
      message: `${where} has ${walk.trailingBytes} bytes after the last pickle that no loader reads`,
      file,
      ...extra,
    });
  }
  return findings;
}

/** What a report says of a file's pickles: the highest protocol and every import. */
export interface PickleSummary {
  protocol: number;
  globals: string[];
}

export function summary(walks: PickleWalk[]): PickleSummary {
  return {
    protocol: Math.max(0, ...walks.map((w) => w.protocol)),
    globals: [...new Set(walks.flatMap((w) => w.globals.map((g) => `${g.module}.${g.name}`)))],
  };
}

/** Findings for one .npy (a file, or an .npz member). */
export function judgeArray(
  npy: NpyInspection,
  file: string,
  policy: ValidationPolicy,
  member?: string,
): Finding[] {
  const where = member ? `${file} (${member})` : file;
  const extra = member ? { key: member } : {};
  if (npy.error) {
    return [
      {
        severity: "error",
        code: "NUMPY_INVALID",
        message: `${where} is not an array np.load reads: ${npy.error.message}`,
        file,
        offset: npy.error.offset,
        ...extra,
      },
    ];
  }
  const findings: Finding[] = [];
  if (npy.pickle) {
    findings.push({
      severity: "warning",
      code: "NUMPY_OBJECT_ARRAY",
      message: `${where} holds an object array (dtype ${npy.descr}), stored as a pickle that only np.load(..., allow_pickle=True) reads, and runs; its globals were checked`,
      file,
      offset: npy.dataOffset,
      ...extra,
    });
    findings.push(...judgePickle(npy.pickle, file, policy, member));
  } else if (npy.trailingBytes > 0) {
    findings.push({
      severity: "warning",
      code: "NUMPY_TRAILING_DATA",
      message: `${where} has ${npy.trailingBytes} bytes after its ${npy.dataBytes} bytes of array data that np.load never reads`,
      file,
      ...extra,
    });
  }
  return findings;
}
