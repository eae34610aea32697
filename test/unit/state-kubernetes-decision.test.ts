import { describe, expect, it } from "vitest";
import {
  decide,
  holderIdentity,
  isEarlierAttempt,
  type LeaseRecord,
  type Observation,
  observe,
  type Self,
} from "../../src/state/kubernetes/lease-decision.js";

const self: Self = { identity: "host-1", token: "mine", githubRun: false };
const held = (renewTime: string, holder = "other-2", durationSeconds = 30): LeaseRecord => ({
  holder,
  token: "theirs",
  renewTime,
  durationSeconds,
});

/** Observations of `records` at the given local times, one after the other. */
function watch(seen: [LeaseRecord, number][]): Observation {
  let observation: Observation | undefined;
  for (const [record, at] of seen) observation = observe(observation, record, at);
  return observation as Observation;
}

describe("the deploy Lease takeover decision", () => {
  it("a Lease with no holder is free; our own token is ours", () => {
    const free = { durationSeconds: 30 };
    expect(decide(free, watch([[free, 0]]), self, 0)).toEqual({ kind: "free" });
    const ours = { holder: "host-1", token: "mine", renewTime: "t", durationSeconds: 30 };
    expect(decide(ours, watch([[ours, 0]]), self, 0)).toEqual({ kind: "ours" });
  });

  it("a holder whose renewTime has not moved for the duration, on our clock, is taken over", () => {
    const record = held("2020-01-01T00:00:00.000000Z");
    const observation = watch([
      [record, 1_000],
      [record, 20_000],
    ]);
    expect(decide(record, observation, self, 30_999)).toMatchObject({
      kind: "held",
      alive: false,
      expiresInMs: 1,
    });
    expect(decide(record, observation, self, 31_000)).toEqual({ kind: "expired", holder: "other-2" });
  });

  it("ignores the timestamps in the Lease: an ancient renewTime first seen now is not expired", () => {
    const record = held("1999-01-01T00:00:00.000000Z");
    expect(decide(record, watch([[record, 50_000]]), self, 50_000)).toMatchObject({ kind: "held" });
    // And a renewTime far in the future does not keep a dead holder forever.
    const future = held("2999-01-01T00:00:00.000000Z");
    expect(decide(future, watch([[future, 0]]), self, 30_000)).toMatchObject({ kind: "expired" });
  });

  it("a renewal seen while watching restarts the clock and marks the holder alive", () => {
    const first = held("2024-01-01T00:00:00.000000Z");
    const renewed = held("2024-01-01T00:00:10.000000Z");
    const observation = watch([
      [first, 0],
      [renewed, 25_000],
    ]);
    expect(observation).toMatchObject({ firstSeenMs: 25_000, moves: 1 });
    expect(decide(renewed, observation, self, 40_000)).toMatchObject({
      kind: "held",
      alive: true,
      expiresInMs: 15_000,
    });
    expect(decide(renewed, observation, self, 55_000)).toMatchObject({ kind: "expired" });
  });

  it("a new holder (same renewTime) counts as a move", () => {
    const observation = watch([
      [held("t", "a"), 0],
      [held("t", "b"), 5_000],
    ]);
    expect(observation.moves).toBe(1);
    expect(observation.firstSeenMs).toBe(5_000);
  });

  it("a rerun of the same GitHub run takes over an earlier attempt's Lease at once, not the same or a later attempt", () => {
    const rerun: Self = { identity: "9001-2", token: "mine", githubRun: true };
    const record = held("t", "9001-1");
    expect(decide(record, watch([[record, 0]]), rerun, 0)).toEqual({ kind: "rerun", holder: "9001-1" });
    const sameAttempt = held("t", "9001-2");
    expect(decide(sameAttempt, watch([[sameAttempt, 0]]), rerun, 0)).toMatchObject({ kind: "held" });
    const otherRun = held("t", "9000-1");
    expect(decide(otherRun, watch([[otherRun, 0]]), rerun, 0)).toMatchObject({ kind: "held" });
    // Off Actions, an identity that happens to look like a run's is not treated as one.
    const laptop: Self = { identity: "9001-2", token: "mine", githubRun: false };
    expect(decide(record, watch([[record, 0]]), laptop, 0)).toMatchObject({ kind: "held" });
  });

  it("compares attempts as numbers", () => {
    expect(isEarlierAttempt("5-9", "5-10")).toBe(true);
    expect(isEarlierAttempt("5-10", "5-9")).toBe(false);
    expect(isEarlierAttempt("host-1", "5-2")).toBe(false);
  });
});

describe("the holder identity", () => {
  it("is <run id>-<run attempt> on GitHub Actions", () => {
    expect(holderIdentity({ GITHUB_ACTIONS: "true", GITHUB_RUN_ID: "123", GITHUB_RUN_ATTEMPT: "3" })).toEqual(
      {
        identity: "123-3",
        githubRun: true,
      },
    );
  });

  it("is <hostname>-<pid> elsewhere, even when a run id is set", () => {
    const { identity, githubRun } = holderIdentity({ GITHUB_RUN_ID: "123" });
    expect(identity.endsWith(`-${process.pid}`)).toBe(true);
    expect(githubRun).toBe(false);
  });
});
