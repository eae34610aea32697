import { describe, expect, it } from "vitest";
import { splitArgv } from "../../src/bench/command.js";

describe("splitArgv", () => {
  it.each([
    ["modelship serve model.onnx --port 8080", ["modelship", "serve", "model.onnx", "--port", "8080"]],
    ["  a   b\tc ", ["a", "b", "c"]],
    [`python -c 'print("hi $HOME")'`, ["python", "-c", 'print("hi $HOME")']],
    [`echo "a \\"quoted\\" \\\\ word" x`, ["echo", 'a "quoted" \\ word', "x"]],
    [`say "" ''`, ["say", "", ""]],
    ["path\\ with\\ spaces", ["path with spaces"]],
    [`--flag="a b"c`, ["--flag=a bc"]],
  ])("splits %j", (text, argv) => {
    expect(splitArgv(text)).toEqual(argv);
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    ["serve 'model", /unclosed ' quote/],
    ['serve "model', /unclosed " quote/],
    ["serve \\", /lone backslash/],
    ["serve | tee log", /"\|" is shell syntax/],
    ["serve; rm -rf /", /";" is shell syntax/],
    ["serve $PORT", /"\$" is shell syntax/],
    ["serve `id`", /"`" is shell syntax/],
    ["serve > log", /">" is shell syntax/],
    ["a\0b", /NUL/],
  ])("rejects %j", (text, message) => {
    expect(() => splitArgv(text)).toThrow(message);
  });
});
