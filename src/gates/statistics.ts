// The statistics the gates use, one import for them all; each lives in stats/ with its citation.
export {
  betaQuantile,
  binomialCdf,
  binomialSf,
  clopperPearson,
  lnGamma,
  normalCdf,
  normalQuantile,
  normalSf,
  regularizedBeta,
} from "./stats/distributions.js";
export {
  jensenShannon,
  minimumPairedRows,
  pairedBootstrap,
  seededRandom,
  tangoNonInferiority,
  tangoStatistic,
} from "./stats/paired.js";
export {
  hodgesLehmann,
  mannWhitneyGreater,
  mannWhitneyGroupedGreater,
  median,
  quantile,
  type UTestResult,
} from "./stats/rank.js";
export { fisherGreater } from "./stats/two-by-two.js";
