/**
 * Deterministic weighted split between stable and canary (smooth weighted round-robin, as nginx
 * does): over any 100 consecutive picks the canary gets exactly `weight` of them, so short demo
 * steps see the intended share instead of a random one.
 */
export class WeightedSplit {
  private canaryCredit = 0;
  private stableCredit = 0;

  constructor(private weight = 0) {
    this.setWeight(weight);
  }

  setWeight(weight: number): void {
    if (!Number.isFinite(weight) || weight < 0 || weight > 100) {
      throw new Error(`canary weight must be between 0 and 100, got ${weight}`);
    }
    this.weight = weight;
    this.canaryCredit = 0;
    this.stableCredit = 0;
  }

  get canaryWeight(): number {
    return this.weight;
  }

  pick(): "stable" | "canary" {
    if (this.weight === 0) return "stable";
    if (this.weight === 100) return "canary";
    this.canaryCredit += this.weight;
    this.stableCredit += 100 - this.weight;
    if (this.canaryCredit >= this.stableCredit) {
      this.canaryCredit -= 100;
      return "canary";
    }
    this.stableCredit -= 100;
    return "stable";
  }
}
