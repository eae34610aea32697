import { describe, expect, it } from "vitest";
import {
  assessStability,
  defaultWindowS,
  WindowedMeasurement,
  type WindowReport,
} from "../../src/bench/windows.js";

const win = (startS: number, throughputRps: number, p50: number, durationS = 1): WindowReport => ({
  startS,
  durationS,
  requests: Math.round(throughputRps * durationS),
  errors: 0,
  throughputRps,
  latencyMs: { p50, p99: p50 * 2 },
});

describe("defaultWindowS", () => {
  it("makes five windows of at least a second, never longer than the run", () => {
    expect(defaultWindowS(60)).toBe(12);
    expect(defaultWindowS(3)).toBe(1);
    expect(defaultWindowS(0.5)).toBe(0.5);
  });
});

describe("assessStability", () => {
  it("calls windows near their median stable", () => {
    const s = assessStability([win(0, 100, 10), win(1, 98, 11), win(2, 102, 9.5)], 1);
    expect(s.stable).toBe(true);
  });

  it("names the window whose throughput strays", () => {
    const s = assessStability([win(0, 100, 10), win(1, 60, 10), win(2, 100, 10)], 1);
    expect(s.stable).toBe(false);
    expect(s.reason).toMatch(/window 2 \(at 1s\) ran 60 req\/s against a median of 100/);
  });

  it("names the window whose median latency strays", () => {
    const s = assessStability([win(0, 100, 10), win(1, 100, 10), win(2, 100, 40)], 1);
    expect(s.stable).toBe(false);
    expect(s.reason).toMatch(/window 3 .*p50 40 ms/);
  });

  it("names a window whose tail is far above the others'", () => {
    const spike = { ...win(1, 100, 10), latencyMs: { p50: 10, p99: 900 } };
    const s = assessStability([win(0, 100, 10), spike, win(2, 100, 10)], 1);
    expect(s.stable).toBe(false);
    expect(s.reason).toMatch(/window 2 .*p99 900 ms against a median of 20 ms/);
    // A small tail wobble is within the slack.
    const wobble = { ...win(1, 100, 10), latencyMs: { p50: 10, p99: 28 } };
    expect(assessStability([win(0, 100, 10), wobble, win(2, 100, 10)], 1).stable).toBe(true);
  });

  it("tolerates sub-millisecond jitter on a fast server", () => {
    expect(assessStability([win(0, 100, 0.2), win(1, 100, 0.6), win(2, 100, 0.3)], 1).stable).toBe(true);
  });

  it("does not judge a short tail window or a single window", () => {
    expect(assessStability([win(0, 100, 10), win(1, 20, 90, 0.2)], 1).stable).toBeNull();
    expect(assessStability([], 1).reason).toMatch(/0 full window/);
  });

  it("treats windows where nothing succeeded as agreeing with each other", () => {
    expect(assessStability([win(0, 0, 0), win(1, 0, 0)], 1).stable).toBe(true);
  });
});

describe("WindowedMeasurement", () => {
  it("puts requests in the window of their intended time and sizes the tail window", () => {
    const w = new WindowedMeasurement(1, 2.5);
    w.add(0.1, { ok: true, status: 200 }, 5);
    w.add(1.9, { ok: true, status: 200 }, 7);
    w.add(2.2, { ok: false, error: "timeout" }, 10_000);
    w.add(99, { ok: true, status: 200 }, 1); // beyond the end (late bookkeeping): the last window
    const report = w.report();
    expect(report.map((r) => [r.startS, r.durationS, r.requests, r.errors])).toEqual([
      [0, 1, 1, 0],
      [1, 1, 1, 0],
      [2, 0.5, 2, 1],
    ]);
    expect(report[2]?.throughputRps).toBe(2);
    expect(report[1]?.latencyMs.p50).toBeCloseTo(7, 2);
  });

  it("leaves out windows after an early stop", () => {
    const w = new WindowedMeasurement(1, 10);
    w.add(0.5, { ok: true, status: 200 }, 1);
    expect(w.report(1.5).map((r) => r.durationS)).toEqual([1, 0.5]);
  });
});
