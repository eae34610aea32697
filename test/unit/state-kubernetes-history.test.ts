import { describe, expect, it } from "vitest";
import {
  capHistory,
  LedgerTooLargeError,
  MAX_HISTORY_ENTRIES,
  MAX_LEDGER_BYTES,
  serializeLedger,
} from "../../src/state/kubernetes/history-cap.js";
import { addRevision, deployStable, emptyLedger, type Ledger, rollback } from "../../src/state/ledger.js";

const T = "2024-05-01T12:00:00.000Z";

/** r1 made stable over nothing, r2 over r1, then `weights` weight-like entries (deploys of r2 again). */
function ledgerWith(entries: number, reason = ""): Ledger {
  let ledger = emptyLedger();
  for (const digest of ["sha256:1", "sha256:2"]) {
    ledger = addRevision(ledger, { name: "iris", path: "m.onnx", digest }, undefined, T).ledger;
  }
  ledger = deployStable(deployStable(ledger, "r1", T), "r2", T);
  const filler = Array.from({ length: entries }, (_, i) => ({
    at: T,
    action: "revert" as const,
    revision: "r1",
    previous: "r2",
    reason: `${reason}${i}`,
  }));
  return { ...ledger, history: [...ledger.history, ...filler] };
}

describe("history capping for the ledger ConfigMap", () => {
  it("leaves a ledger within the limits as it is", () => {
    const ledger = ledgerWith(10);
    const capped = capHistory(ledger);
    expect(capped.dropped).toBe(0);
    expect(capped.ledger).toEqual(ledger);
    expect(capped.text).toBe(serializeLedger(ledger));
  });

  it("drops the oldest entries beyond the entry limit, keeping the newest and the one rollback needs", () => {
    const ledger = ledgerWith(MAX_HISTORY_ENTRIES + 50);
    const { ledger: capped, dropped } = capHistory(ledger);
    expect(capped.history).toHaveLength(MAX_HISTORY_ENTRIES);
    expect(dropped).toBe(52);
    // The entry that made r2 stable over r1 (second of all) stays, so rollback still finds r1.
    expect(capped.history[0]).toMatchObject({ action: "deploy", revision: "r2", previous: "r1" });
    expect(capped.history.at(-1)).toEqual(ledger.history.at(-1));
    expect(capped.history[1]?.reason).toBe(`${51}`);
    expect(rollback(capped, T).stable).toBe("r1");
    expect(capped.revisions).toEqual(ledger.revisions);
  });

  it("drops as few entries as needed to fit the byte budget", () => {
    const ledger = ledgerWith(200, "x".repeat(500));
    const limits = { entries: 1000, bytes: 50_000 };
    const { ledger: capped, text, dropped } = capHistory(ledger, limits);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(limits.bytes);
    expect(text).toBe(serializeLedger(capped));
    const oneMore = {
      ...ledger,
      history: [capped.history[0], ...ledger.history.slice(-capped.history.length)],
    };
    expect(Buffer.byteLength(serializeLedger(oneMore as Ledger))).toBeGreaterThan(limits.bytes);
    expect(dropped).toBe(ledger.history.length - capped.history.length);
  });

  it("refuses, with figures, a ledger whose revisions alone exceed the budget, never dropping revisions", () => {
    let ledger = ledgerWith(5);
    for (let i = 3; i <= 400; i++) {
      ledger = addRevision(
        ledger,
        { name: "iris", path: "m.onnx", digest: `sha256:${i}` },
        undefined,
        T,
      ).ledger;
    }
    expect(() => capHistory(ledger, { entries: 1000, bytes: 20_000 })).toThrow(LedgerTooLargeError);
    expect(() => capHistory(ledger, { entries: 1000, bytes: 20_000 })).toThrow(
      /bytes even with its history cut to 2 entries, over the 20000-byte budget .*\(400 revisions, which are never dropped\)/,
    );
  });

  it("keeps the default budget at half the ConfigMap limit", () => {
    expect(MAX_LEDGER_BYTES).toBe(512 * 1024);
  });
});
