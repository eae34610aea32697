/**
 * How the rollout's false-revert budget is shared across its looks and gates.
 *
 * A rollout looks at the canary many times (once a second during each step, to abort a clear
 * failure early, and at each step's end) and runs several tests each time; testing each at the
 * configured level would multiply false reverts. The budget `alpha` is therefore split, by
 * Bonferroni's inequality, which holds whatever the correlation between looks and gates:
 *
 * - 10% goes to the looks during steps, spread evenly over every look the plan can make (its
 *   steps at their longest, extensions included) and every test run at them. This is the
 *   Haybittle–Peto design (Haybittle 1971; Peto et al. 1976): interim looks at a very strict
 *   level, so the step-end analysis keeps almost the whole budget. We chose it over
 *   O'Brien–Fleming or Pocock boundaries through Lan–DeMets spending because those need the
 *   information fraction of each look, and here that depends on traffic nobody knows in advance;
 *   and over always-valid p-values (mSPRT) because those exist for means and proportions, not for
 *   the rank and exact tests the gates rely on. A clear failure (half the requests failing, a
 *   canary several times slower) still reaches p < 1e-6 within a couple of seconds.
 * - 90% goes to the step ends, shared evenly by every (step, test) pair and the tests made once
 *   before traffic; within a step, ¾ of its share goes to the step's end and ¼ to the extensions
 *   an inconclusive step may get.
 */
export interface SequentialPolicy {
  /** The whole rollout's false-revert budget for a canary as good as the stable. */
  alpha: number;
  /** Seconds between looks during a step; 0: look only at the step's end. */
  lookIntervalS: number;
  /** How many times a step whose gates are inconclusive (too few requests) may be extended. */
  maxExtensions: number;
}

export const DEFAULT_SEQUENTIAL: SequentialPolicy = { alpha: 0.01, lookIntervalS: 1, maxExtensions: 1 };

export interface AlphaSplit {
  /** Level of each test at a step's end. */
  final: number;
  /** Level of each test at each extension's end. */
  extension: number;
  /** Level of each test at each look during a step. */
  interim: number;
  /** Level of each test made once before traffic (agreement). */
  preTraffic: number;
  /** Looks during steps the plan can make at most. */
  interimLooks: number;
}

export const INTERIM_SHARE = 0.1;
const END_SHARE = 0.75;

export function alphaSplit(
  stepDurationsS: readonly number[],
  tests: { final: number; interim: number; preTraffic: number },
  policy: SequentialPolicy,
): AlphaSplit {
  const interimLooks =
    policy.lookIntervalS > 0
      ? stepDurationsS.reduce(
          (sum, d) =>
            sum + Math.max(0, Math.ceil((d * (1 + policy.maxExtensions)) / policy.lookIntervalS) - 1),
          0,
        )
      : 0;
  const interimBudget = interimLooks > 0 && tests.interim > 0 ? policy.alpha * INTERIM_SHARE : 0;
  const finalBudget = policy.alpha - interimBudget;
  const shares = stepDurationsS.length * tests.final + tests.preTraffic;
  const perTest = shares > 0 ? finalBudget / shares : finalBudget;
  const endShare = policy.maxExtensions > 0 ? END_SHARE : 1;
  return {
    final: perTest * endShare,
    extension: policy.maxExtensions > 0 ? (perTest * (1 - END_SHARE)) / policy.maxExtensions : 0,
    interim: interimBudget > 0 ? interimBudget / (interimLooks * tests.interim) : 0,
    preTraffic: perTest,
    interimLooks,
  };
}
