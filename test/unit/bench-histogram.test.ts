import { describe, expect, it } from "vitest";
import { LatencyRecorder } from "../../src/bench/histogram.js";

describe("LatencyRecorder", () => {
  it("summarises an empty recorder as zeros", () => {
    const r = new LatencyRecorder();
    expect(r.summary()).toEqual({ p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: 0 });
    expect(r.count).toBe(0);
  });

  it("reports percentiles of 1..1000 ms within 3 significant digits", () => {
    const r = new LatencyRecorder();
    for (let ms = 1; ms <= 1000; ms++) r.record(ms);
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(Math.abs(s.p50 - 500) / 500).toBeLessThan(0.002);
    expect(Math.abs(s.p90 - 900) / 900).toBeLessThan(0.002);
    expect(Math.abs(s.p95 - 950) / 950).toBeLessThan(0.002);
    expect(Math.abs(s.p99 - 990) / 990).toBeLessThan(0.002);
    expect(Math.abs(s.max - 1000) / 1000).toBeLessThan(0.002);
    expect(s.p99).toBeLessThanOrEqual(s.max);
  });

  it("keeps sub-millisecond resolution and stalls of a minute", () => {
    const r = new LatencyRecorder();
    r.record(0.25);
    expect(r.summary().max).toBeCloseTo(0.25, 3);
    r.record(60_000);
    r.record(120_000);
    const s = r.summary();
    expect(s.p50).toBeCloseTo(60_000, -2);
    expect(Math.abs(s.max - 120_000) / 120_000).toBeLessThan(0.002);
  });

  it("never reports a percentile above the largest value recorded", () => {
    const r = new LatencyRecorder();
    r.record(1000.001);
    const s = r.summary();
    expect(s.p99).toBeLessThanOrEqual(s.max);
    expect(s.p50).toBeLessThanOrEqual(s.max);
  });

  it("starts over after reset", () => {
    const r = new LatencyRecorder();
    r.record(5);
    r.record(7);
    r.reset();
    expect(r.count).toBe(0);
    r.record(3);
    expect(r.summary()).toMatchObject({ count: 1, max: 3, p50: 3 });
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, -1])("rejects %s", (value) => {
    const r = new LatencyRecorder();
    expect(() => r.record(value)).toThrow(/finite number of milliseconds/);
    expect(r.count).toBe(0);
  });
});
