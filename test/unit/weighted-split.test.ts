import { describe, expect, it } from "vitest";
import { WeightedSplit } from "../../src/targets/local/weighted-split.js";

const picks = (split: WeightedSplit, n: number) => Array.from({ length: n }, () => split.pick());
const canaryCount = (seq: string[]) => seq.filter((p) => p === "canary").length;

describe("WeightedSplit", () => {
  it.each([1, 5, 10, 25, 33, 50, 67, 90, 99])("gives the canary exactly %d of 100 picks", (weight) => {
    expect(canaryCount(picks(new WeightedSplit(weight), 100))).toBe(weight);
  });

  it.each([7, 10, 50, 93])("gives the canary exactly %d of any 100 consecutive picks", (weight) => {
    const seq = picks(new WeightedSplit(weight), 350);
    for (let start = 0; start + 100 <= seq.length; start += 13) {
      expect(canaryCount(seq.slice(start, start + 100))).toBe(weight);
    }
  });

  it("spreads canary picks out instead of bunching them", () => {
    const seq = picks(new WeightedSplit(10), 100);
    const positions = seq.flatMap((p, i) => (p === "canary" ? [i] : []));
    const gaps = positions.slice(1).map((p, i) => p - (positions[i] as number));
    expect(gaps.every((g) => g === 10)).toBe(true);
  });

  it("sends everything to stable at weight 0 and everything to the canary at 100", () => {
    expect(new Set(picks(new WeightedSplit(0), 100))).toEqual(new Set(["stable"]));
    expect(new Set(picks(new WeightedSplit(100), 100))).toEqual(new Set(["canary"]));
    expect(new Set(picks(new WeightedSplit(), 10))).toEqual(new Set(["stable"]));
  });

  it("starts a fresh cycle when the weight changes", () => {
    const split = new WeightedSplit(50);
    picks(split, 37);
    split.setWeight(20);
    expect(split.canaryWeight).toBe(20);
    expect(canaryCount(picks(split, 100))).toBe(20);
  });

  it.each([-1, 101, Number.NaN, Number.POSITIVE_INFINITY])("rejects the weight %d", (weight) => {
    expect(() => new WeightedSplit(weight)).toThrow(`canary weight must be between 0 and 100, got ${weight}`);
    const split = new WeightedSplit(30);
    expect(() => split.setWeight(weight)).toThrow(/between 0 and 100/);
    expect(split.canaryWeight).toBe(30);
  });
});
