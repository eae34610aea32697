// What status says about a deployment: the canary in the ledger with what the deploy lock says.
import { describe, expect, it } from "vitest";
import { describeDeploy } from "../../src/state/deploy-status.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type Ledger,
  setCanaryWeight,
  startCanary,
} from "../../src/state/ledger.js";

const T = "2024-05-01T12:00:00.000Z";
function withCanary(owner?: { pid: number; host: string }): Ledger {
  let ledger = emptyLedger();
  for (const digest of ["sha256:a", "sha256:b"]) {
    ledger = addRevision(ledger, { name: "iris", path: `/m/${digest}`, digest }, undefined, T).ledger;
  }
  ledger = startCanary(deployStable(ledger, "r1", T), "r2", T, owner);
  return setCanaryWeight(ledger, 20, T, 0);
}

describe("describeDeploy", () => {
  it("a canary whose deployment is gone (stale lock): nothing runs, who left it, what the next deploy does", () => {
    const line = describeDeploy(withCanary({ pid: 4242, host: "runner-1" }), {
      running: false,
      stale: true,
      holder: "pid 4242 on runner-1",
      detail: "/s/deploy.lock names pid 4242, which is no longer running",
    });
    expect(line).toBe(
      "no deploy is running (/s/deploy.lock names pid 4242, which is no longer running); the canary r2 at 20% " +
        "was left by pid 4242 on runner-1, which is gone; the next deploy reverts it to the stable revision, or continues it with --resume",
    );
  });

  it("a canary of a ledger that recorded no owner is said to be left by the lock's last holder", () => {
    const line = describeDeploy(withCanary(), {
      running: false,
      stale: true,
      holder: "12345-1",
      detail: "lease/modelship-iris-deploy in namespace ns names 12345-1, which last renewed it at …",
    });
    expect(line).toMatch(/the canary r2 at 20% was left by 12345-1, which is gone/);
  });

  it("a canary with a live holder is moving", () => {
    expect(
      describeDeploy(withCanary({ pid: 1, host: "h" }), {
        running: true,
        holder: "pid 1 on h",
        detail: "pid 1 holds /s/deploy.lock",
      }),
    ).toBe("a deploy is running and moves the canary r2 at 20%: pid 1 holds /s/deploy.lock");
  });

  it("without a canary: running, nothing, or a stale lock the next deploy takes over", () => {
    const ledger = deployStable(
      addRevision(emptyLedger(), { name: "i", path: "/m", digest: "sha256:a" }, undefined, T).ledger,
      "r1",
      T,
    );
    expect(describeDeploy(ledger, { running: false, detail: "no process holds /s/deploy.lock" })).toBe(
      "no deploy is running",
    );
    expect(describeDeploy(ledger, { running: true, detail: "pid 1 holds /s/deploy.lock" })).toBe(
      "a deploy is running: pid 1 holds /s/deploy.lock",
    );
    expect(
      describeDeploy(ledger, {
        running: false,
        stale: true,
        detail: "/s/deploy.lock names pid 9, which is no longer running",
      }),
    ).toBe("no deploy is running; /s/deploy.lock names pid 9, which is no longer running");
    expect(
      describeDeploy(ledger, { running: "unknown", detail: "lock file /s/deploy.lock is a directory" }),
    ).toMatch(/^whether a deploy is running is not known: lock file/);
  });
});
