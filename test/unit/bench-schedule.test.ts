import { describe, expect, it } from "vitest";
import { dueCount, intendedTime, ScheduleLag, totalRequests } from "../../src/bench/schedule.js";

describe("open-loop schedule", () => {
  it("spaces intended times 1/rps apart from the start", () => {
    expect(intendedTime(1000, 50, 0)).toBe(1000);
    expect(intendedTime(1000, 50, 1)).toBe(1020);
    expect(intendedTime(1000, 50, 150)).toBe(4000);
  });

  it("counts requests whose intended time falls inside the span", () => {
    expect(totalRequests(50, 3000)).toBe(150);
    expect(totalRequests(3, 1000)).toBe(3);
    expect(totalRequests(0.5, 3000)).toBe(2); // at 0 s and 2 s
    expect(totalRequests(10, 0)).toBe(0);
  });

  it("makes requests due once their intended time has come, capped at the total", () => {
    expect(dueCount(1000, 50, 999, 150)).toBe(0);
    expect(dueCount(1000, 50, 1000, 150)).toBe(1);
    expect(dueCount(1000, 50, 1019.9, 150)).toBe(1);
    expect(dueCount(1000, 50, 1020, 150)).toBe(2);
    // A generator that wakes late catches up with every request due meanwhile.
    expect(dueCount(1000, 50, 2000, 150)).toBe(51);
    expect(dueCount(1000, 50, 10_000, 150)).toBe(150);
  });

  it("calls the generator behind only when more than 5% of requests left over 50 ms late", () => {
    const onTime = new ScheduleLag();
    for (let i = 0; i < 1000; i++) onTime.note(i % 20 === 0 ? 400 : 1); // 5% late: tolerated
    for (let i = 0; i < 100; i++) onTime.note(50); // jitter up to 50 ms is not late
    expect(onTime.behind).toBe(false);
    expect(onTime.maxMs).toBe(400);

    const behind = new ScheduleLag();
    for (let i = 0; i < 100; i++) behind.note(i < 6 ? 51 : 0);
    expect(behind.behind).toBe(true);
    expect(new ScheduleLag().behind).toBe(false);
  });
});
