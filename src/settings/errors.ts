// The one error a settings parser throws: which setting (labelled as the user gave it, `--rate` or
// `input rate`), what is wrong with it, and how to fix it. The CLI prints it as a usage error
// (exit 2); an action fails the step with it.

/** How a setting is named in messages: `--chunk-size` in the CLI, `input chunk-size` in an action. */
export type Label = (name: string) => string;

export interface SettingsProblem {
  /** The labelled setting, e.g. "--rate"; empty when the problem is not about one setting. */
  label: string;
  /** What is wrong, phrased to follow the label: "must be a number from 1 to 10, got \"x\"". */
  problem: string;
  /** How to fix it, when the problem alone does not say. */
  fix?: string;
}

export class SettingsError extends Error {
  readonly label: string;
  readonly problem: string;
  readonly fix?: string;

  constructor({ label, problem, fix }: SettingsProblem) {
    super(`${label ? `${label} ` : ""}${problem}${fix ? `. Fix: ${fix}` : ""}`);
    this.name = "SettingsError";
    this.label = label;
    this.problem = problem;
    if (fix !== undefined) this.fix = fix;
  }
}
