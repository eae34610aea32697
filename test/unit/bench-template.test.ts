import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { csvRows, fillTemplate, loadRows, parseCsv } from "../../src/bench/template.js";

describe("parseCsv", () => {
  it("handles quotes, doubled quotes, commas and newlines inside quotes, CRLF", () => {
    expect(parseCsv('a,b\r\n"x, y","say ""hi"""\n"two\nlines",\n')).toEqual([
      ["a", "b"],
      ["x, y", 'say "hi"'],
      ["two\nlines", ""],
    ]);
  });

  it.each([
    ['a\n"open', /:2: a quoted field is never closed/],
    ['a\n"x"y', /:2: text after a closing quote/],
    ['a\nx"y', /:2: a quote inside an unquoted field/],
  ])("rejects %j", (text, message) => {
    expect(() => parseCsv(text, "rows.csv")).toThrow(message);
  });
});

describe("csvRows", () => {
  it("keys cells by the header", () => {
    expect(csvRows("q,n\nhello,1\n")).toEqual([{ q: "hello", n: "1" }]);
  });

  it.each([
    ["", /empty/],
    ["q\n", /only a header/],
    ["q,q\n1,2", /repeated column "q"/],
    ["q,n\n1", /row 2 has 1 fields, the header has 2/],
  ])("rejects %j", (text, message) => {
    expect(() => csvRows(text, "f.csv")).toThrow(message);
  });
});

describe("fillTemplate", () => {
  const template = { model: "m", prompt: "Q: {{q}} (#{{ n }})", max_tokens: "{{n}}", tags: ["{{q}}"] };

  it("fills whole placeholders with typed values and inner ones with text", () => {
    expect(fillTemplate(template, [{ q: "why?", n: 3 }])).toEqual([
      { model: "m", prompt: "Q: why? (#3)", max_tokens: 3, tags: ["why?"] },
    ]);
  });

  it("names the row and the missing column", () => {
    expect(() => fillTemplate(template, [{ q: "a", n: 1 }, { q: "b" }])).toThrow(
      /row 2 has no column "n" \(it has: q\)/,
    );
  });

  it("does not treat inherited keys as columns", () => {
    expect(() => fillTemplate({ x: "{{constructor}}" }, [{}])).toThrow(/no column "constructor"/);
  });
});

describe("loadRows", () => {
  it("reads JSONL rows and rejects a line that is not an object", async () => {
    const file = join(tmpdir(), `rows-${process.pid}.jsonl`);
    await writeFile(file, '{"q":"a"}\n\n{"q":"b"}\n');
    expect(await loadRows(file)).toEqual([{ q: "a" }, { q: "b" }]);
    await writeFile(file, '{"q":"a"}\n[1]\n');
    await expect(loadRows(file)).rejects.toThrow(/:2: a row must be a JSON object/);
  });

  it("says which file it cannot read", async () => {
    await expect(loadRows("/nonexistent/rows.csv")).rejects.toThrow(/rows.csv: cannot read rows/);
  });
});
