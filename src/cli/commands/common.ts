import type { ModelshipConfig } from "../../config/index.js";
import { dryRunYaml } from "../../targets/kubernetes/dry-run.js";
import { loadTemplate } from "../../targets/kubernetes/template.js";
import { stderrLogger } from "../../util/log.js";

export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

export const log = stderrLogger;
export const print = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
export const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
export const configHelp = `  --config FILE       modelship.yml (default ./modelship.yml; without it, flags alone)
  --model PATH        model file or directory (overrides model.path)
  --name NAME         model name (overrides model.name)
  --state-dir DIR     local target state (overrides target.stateDir)
  --json              print the JSON report alone on stdout`;

/** --dry-run: the Kubernetes objects a deploy would apply, on stdout. */
export async function printDryRun(config: ModelshipConfig): Promise<number> {
  const template =
    config.target.kind === "kubernetes" && config.target.template
      ? await loadTemplate(config.target.template)
      : undefined;
  print(dryRunYaml(config, template));
  return 0;
}
