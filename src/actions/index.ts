import { benchmarkAction } from "./benchmark.js";
import { buildAction } from "./build.js";
import { revertOnCancelAction } from "./cancel.js";
import { runAction } from "./common.js";
import { deployAction } from "./deploy.js";
import { gateAction } from "./gate.js";
import { previewAction } from "./preview.js";
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
  preview: previewAction,
  run: pipelineAction,
} as const;

export type ActionName = keyof typeof actions;

export function runNamedAction(name: ActionName): Promise<void> {
  return runAction(actions[name]);
}

/** The post steps (runs.post), by action: revert a canary the main step left unfinished. */
export const posts = { deploy: revertOnCancelAction, run: revertOnCancelAction } as const;

export function runNamedPost(name: keyof typeof posts): Promise<void> {
  return runAction(posts[name]);
}
