import { benchmarkAction } from "./benchmark.js";
import { buildAction } from "./build.js";
import { runAction } from "./common.js";
import { deployAction } from "./deploy.js";
import { gateAction } from "./gate.js";
import { promoteAction } from "./promote.js";
import { rollbackAction } from "./rollback.js";
import { pipelineAction } from "./run.js";
import { validateAction } from "./validate.js";

/** Every action by the name of its directory under actions/ ("run" is the root action.yml). */
export const actions = {
  validate: validateAction,
  benchmark: benchmarkAction,
  build: buildAction,
  deploy: deployAction,
  gate: gateAction,
  promote: promoteAction,
  rollback: rollbackAction,
  run: pipelineAction,
} as const;

export type ActionName = keyof typeof actions;

export function runNamedAction(name: ActionName): Promise<void> {
  return runAction(actions[name]);
}
