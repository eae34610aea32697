import { describe, expect, it } from "vitest";
import { chooseOutput, progressHooks, windowLine } from "../../src/bench/progress.js";
import { maskingLogger, parseHeader } from "../../src/bench/session.js";
import { parseSweep } from "../../src/bench/sweep.js";

describe("parseHeader", () => {
  it("splits at the first colon and trims", () => {
    expect(parseHeader("X-Api-Key:  abc:def ")).toEqual(["X-Api-Key", "abc:def"]);
  });

  it.each([
    [": hunter2x", /^has no name before ":"; write it as "Name: value"$/],
    ["hunter2x", /^has no ":" between a name and a value \(its text is not shown\)/],
    ["Bad Name: hunter2x", /^has a space in its name \(after "Bad"\)/],
    ["Bearer hunter2x", /^has no ":"/],
    ["X(Key): hunter2x", /^has a name, "X\(Key\)", that HTTP does not allow/],
    [
      "X-Key: hunter2x\r\nHost: evil",
      /^has a control character \(a line break, a NUL…\) in the value of "X-Key"$/,
    ],
  ])("rejects %j saying what is wrong, without echoing the value", (text, message) => {
    let error: Error | undefined;
    try {
      parseHeader(text);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain("hunter2x");
  });
});

describe("maskingLogger", () => {
  it("replaces every secret, wherever it appears", () => {
    const lines: string[] = [];
    const log = maskingLogger(
      { info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) },
      ["s3cr3t-token", "ab"],
    );
    log.error("server said: bad token s3cr3t-token (s3cr3t-token)");
    // Values too short to be secrets are not masked (they would blank out ordinary words).
    log.info("about ab");
    expect(lines).toEqual(["server said: bad token *** (***)", "about ab"]);
  });
});

describe("progress output", () => {
  it("is quiet with --json, a line a second on a terminal, a line per window in CI", () => {
    expect(chooseOutput({ json: true, tty: true, ci: false })).toBe("quiet");
    expect(chooseOutput({ json: false, tty: true, ci: false })).toBe("terminal");
    expect(chooseOutput({ json: false, tty: true, ci: true })).toBe("log");
    expect(chooseOutput({ json: false, tty: false, ci: false })).toBe("log");
    const noop = { info() {}, warn() {}, error() {} };
    expect(Object.keys(progressHooks("quiet", noop))).toEqual([]);
    expect(Object.keys(progressHooks("terminal", noop))).toEqual(["onProgress"]);
    expect(Object.keys(progressHooks("log", noop))).toEqual(["onWindow"]);
  });

  it("formats a window line", () => {
    expect(
      windowLine(
        {
          startS: 2,
          durationS: 1,
          requests: 100,
          errors: 1,
          throughputRps: 99,
          latencyMs: { p50: 1.5, p99: 9 },
        },
        2,
      ),
    ).toBe("window 3 (2s+1s): 100 requests, 99 req/s, 1 errors, p50 1.5 ms, p99 9 ms");
  });
});

describe("parseSweep", () => {
  it("sorts and de-duplicates loads", () => {
    expect(parseSweep("rate", "50, 10,20,10")).toEqual([10, 20, 50].map((rps) => ({ kind: "rate", rps })));
  });

  it.each([
    ["rate", "10,,20", /"" is not a positive number/],
    ["rate", "10,-5", /"-5" is not a positive/],
    ["rate", "fast", /"fast"/],
    ["concurrency", "1,2.5", /whole numbers/],
    ["rate", Array.from({ length: 60 }, (_, i) => i + 1).join(","), /at most 50/],
  ] as const)("rejects %s %j", (kind, text, message) => {
    expect(() => parseSweep(kind, text)).toThrow(message);
  });
});
