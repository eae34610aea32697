import { describe, expect, it } from "vitest";
import { markdownTable, textTable } from "../../src/util/table.js";

describe("markdownTable", () => {
  it("renders a header, a separator and one line per row", () => {
    expect(
      markdownTable(
        ["gate", "status", "observed"],
        [
          ["latency-p95", "pass", 80.5],
          ["error-rate", "fail", 0.02],
        ],
      ),
    ).toBe(
      [
        "| gate | status | observed |",
        "| --- | --- | --- |",
        "| latency-p95 | pass | 80.5 |",
        "| error-rate | fail | 0.02 |",
      ].join("\n"),
    );
  });

  it("escapes pipes and flattens line breaks so a cell cannot break the table", () => {
    const table = markdownTable(["a|b", "reason"], [["x|y", "line one\nline two\r\nline three\rend"]]);
    expect(table).toBe(
      ["| a\\|b | reason |", "| --- | --- |", "| x\\|y | line one line two line three end |"].join("\n"),
    );
    expect(table.split(/\r\n|\r|\n/)).toHaveLength(3);
  });

  it("renders a table without rows", () => {
    expect(markdownTable(["a"], [])).toBe("| a |\n| --- |");
  });
});

describe("textTable", () => {
  it("pads every column to its widest cell and trims trailing spaces", () => {
    const table = textTable(
      ["step", "weight", "p95"],
      [
        [1, 10, "40.5 ms"],
        [2, 100, "1200 ms"],
      ],
    );
    expect(table).toBe(
      [
        "step  weight  p95", //
        "----  ------  -------",
        "1     10      40.5 ms",
        "2     100     1200 ms",
      ].join("\n"),
    );
  });

  it("widens a column for a cell longer than its header and leaves no trailing space", () => {
    const lines = textTable(
      ["a", "b"],
      [
        ["long value", "x"],
        ["s", ""],
      ],
    ).split("\n");
    expect(lines).toEqual(["a           b", "----------  -", "long value  x", "s"]);
    const column = lines[0]?.indexOf("b");
    expect(lines[2]?.indexOf("x")).toBe(column);
  });

  it("treats a missing trailing cell as empty", () => {
    expect(textTable(["a", "bb"], [["x"]])).toBe(["a  bb", "-  --", "x"].join("\n"));
  });
});
