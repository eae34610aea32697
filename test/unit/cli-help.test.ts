// Every flag a command's settings parser reads is in that command's --help.
import { describe, expect, it } from "vitest";
import { commands } from "../../src/cli/commands.js";
import { benchmarkParser } from "../../src/settings/benchmark.js";
import { buildParser } from "../../src/settings/build.js";
import { type Fields, flagLabel, flagOf } from "../../src/settings/fields.js";
import { gateParser } from "../../src/settings/gate.js";
import { promoteParser } from "../../src/settings/promote.js";
import { rollbackParser } from "../../src/settings/rollback.js";
import { statusParser } from "../../src/settings/status.js";
import { validateParser } from "../../src/settings/validate.js";

const parsers: Record<string, Fields> = {
  validate: validateParser.fields,
  benchmark: benchmarkParser.fields,
  build: buildParser.fields,
  gate: gateParser.fields,
  promote: promoteParser.fields,
  rollback: rollbackParser.fields,
  status: statusParser.fields,
};

describe("CLI help", () => {
  for (const [name, fields] of Object.entries(parsers)) {
    it(`${name} --help names every flag its parser reads`, () => {
      const help = commands[name]?.help ?? "";
      const label = flagLabel(fields);
      const flags = Object.keys(fields).flatMap((field) =>
        flagOf(fields, field) !== undefined || fields[field]?.positional ? [label(field)] : [],
      );
      const missing = flags.filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(help));
      expect(missing).toEqual([]);
    });
  }
});
