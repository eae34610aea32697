// Whether this process may take the deploy Lease, as a pure function of what it has observed.
// As in client-go's leader election, a holder is presumed gone only when its record has not moved
// for the lease duration measured on this process's own monotonic clock from the moment it first
// saw that record; the timestamps in the Lease (written by other machines' clocks) are never
// compared with ours, so clock skew between runner and cluster cannot matter.
import { hostname } from "node:os";

/** What the Lease says, as far as the decision needs it. */
export interface LeaseRecord {
  holder?: string;
  /** Which acquisition holds it: tells two processes with the same identity apart. */
  token?: string;
  renewTime?: string;
  durationSeconds: number;
}

/** The record this process last saw, and when (monotonic ms) it first saw it in that state. */
export interface Observation {
  key: string;
  firstSeenMs: number;
  /** How often the record moved while this process watched: evidence of a live holder. */
  moves: number;
}

export interface Self {
  identity: string;
  token: string;
  /** The identity is `<run id>-<run attempt>` of a GitHub Actions run. */
  githubRun: boolean;
}

export type Verdict =
  | { kind: "free" }
  | { kind: "ours" }
  | { kind: "rerun"; holder: string }
  | { kind: "expired"; holder: string }
  | { kind: "held"; holder: string; alive: boolean; expiresInMs: number };

const keyOf = (record: LeaseRecord) =>
  JSON.stringify([record.holder ?? "", record.token ?? "", record.renewTime ?? "", record.durationSeconds]);

/** The observation after seeing `record` at `nowMs`: the clock restarts whenever the record moved. */
export function observe(previous: Observation | undefined, record: LeaseRecord, nowMs: number): Observation {
  const key = keyOf(record);
  if (previous?.key === key) return previous;
  return { key, firstSeenMs: nowMs, moves: previous ? previous.moves + 1 : 0 };
}

export function decide(record: LeaseRecord, observation: Observation, self: Self, nowMs: number): Verdict {
  const holder = record.holder;
  if (!holder) return { kind: "free" };
  if (holder === self.identity && record.token === self.token) return { kind: "ours" };
  if (self.githubRun && isEarlierAttempt(holder, self.identity)) return { kind: "rerun", holder };
  const expiresInMs = observation.firstSeenMs + record.durationSeconds * 1000 - nowMs;
  if (expiresInMs <= 0) return { kind: "expired", holder };
  return { kind: "held", holder, alive: observation.moves > 0, expiresInMs };
}

/**
 * `<run id>-<run attempt>` on GitHub Actions (a rerun keeps the run id and counts the attempt up),
 * else `<hostname>-<pid>`.
 */
export function holderIdentity(env: NodeJS.ProcessEnv = process.env): {
  identity: string;
  githubRun: boolean;
} {
  const run = env.GITHUB_RUN_ID;
  if (env.GITHUB_ACTIONS === "true" && run && /^\d+$/.test(run)) {
    const attempt = /^\d+$/.test(env.GITHUB_RUN_ATTEMPT ?? "") ? env.GITHUB_RUN_ATTEMPT : "1";
    return { identity: `${run}-${attempt}`, githubRun: true };
  }
  return { identity: `${hostname()}-${process.pid}`, githubRun: false };
}

const RUN = /^(\d+)-(\d+)$/;

/**
 * The holder is an earlier attempt of our own workflow run: GitHub starts a rerun only once every
 * job of the previous attempt has ended, so that holder is gone. The same attempt is not ours: it
 * is another job of the same run (a matrix) and is treated as any other holder.
 */
export function isEarlierAttempt(holder: string, self: string): boolean {
  const theirs = RUN.exec(holder);
  const ours = RUN.exec(self);
  if (!theirs || !ours) return false;
  return theirs[1] === ours[1] && Number(theirs[2]) < Number(ours[2]);
}
