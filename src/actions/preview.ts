import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import type { GitHubApi } from "../github/api.js";
import { commentMarker, upsertSticky, withoutMarker } from "../github/comment.js";
import { previewEnvironment, type RunContext, readRunContext } from "../github/context.js";
import {
  type DeploymentRecorder,
  deactivateEnvironment,
  startDeployment,
  warningOf,
} from "../github/deployments.js";
import { closedMarkdown, previewMarkdown } from "../github/preview-comment.js";
import { type LivePreview, livePreview } from "../pipeline/live-preview.js";
import { evaluatePreview } from "../pipeline/preview.js";
import { type PreviewSettings, previewParser } from "../settings/preview.js";
import { fromInputs } from "../settings/sources.js";
import type { RevisionRecord } from "../state/ledger.js";
import { errorMessage } from "../util/errors.js";
import { actionLogger, writeReport } from "./common.js";
import { apiOf, refOf } from "./github.js";
import { withKubeconfig } from "./kubeconfig.js";

/** The sticky comment, best effort: a token that may not comment gives a warning. */
async function comment(
  api: GitHubApi | undefined,
  pr: number,
  marker: string,
  body: Parameters<typeof upsertSticky>[3],
): Promise<string> {
  if (!api) return "";
  try {
    const { comment, created } = await upsertSticky(api, pr, marker, body);
    core.info(`  PR comment ${comment.id} ${created ? "created" : "updated"}`);
    return String(comment.id);
  } catch (error) {
    core.warning(warningOf(error, `the PR #${pr} comment`));
    return "";
  }
}

function pullRequestOf(settings: PreviewSettings, context: RunContext): number {
  const pr = settings.pullRequest ?? context.pullRequest?.number;
  if (pr === undefined)
    throw new Error(
      `the preview needs a pull request: run it on pull_request events, or give the input pull-request (the workflow_run pattern); this run's event is ${context.eventName || "unknown"}`,
    );
  return pr;
}

export async function previewAction(): Promise<void> {
  const settings = fromInputs(previewParser, core.getInput, core.setSecret);
  const context = readRunContext();
  const pr = pullRequestOf(settings, context);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const notices: string[] = [];
  const fork = context.pullRequest?.fork === true;
  if (fork) {
    notices.push(
      `This pull request comes from the fork ${context.pullRequest?.headRepo}: its token is read-only and secrets are absent, so no comment, no GitHub Deployment and no cluster access; the evaluation ran anyway and is in the job summary. docs/github.md shows the two-workflow workflow_run pattern that comments safely.`,
    );
  } else if (!settings.github.token) {
    notices.push(
      "No github-token: nothing was written to the pull request; the evaluation is in the job summary.",
    );
  }
  for (const notice of notices) core.notice(notice, { title: "modelship preview" });
  const api = fork ? undefined : apiOf(settings.github, context);
  const deployments = settings.github.deployments ? api : undefined;
  const commentApi = settings.comment ? api : undefined;
  const environment = previewEnvironment(pr);
  const marker = commentMarker(config.model.name);
  const at = () => new Date().toISOString();

  const prUrl = context.repo
    ? `https://github.com/${context.repo.owner}/${context.repo.repo}/pull/${pr}`
    : undefined;
  // Already inside the kubeconfig (the evaluation's hook), or wrapped in it (cleanup, and the sweep).
  const liveIn = (revision?: RevisionRecord, skipped?: string) =>
    livePreview(config, {
      pullRequest: pr,
      mode: settings.mode,
      ...(revision ? { revision } : {}),
      ...(skipped ? { skipped } : {}),
      ttlHours: settings.ttlHours,
      ...(prUrl ? { prUrl } : {}),
    });
  const live = (revision?: RevisionRecord, skipped?: string): Promise<LivePreview> =>
    fork
      ? Promise.resolve({ removed: [], expired: [], notes: [] })
      : withKubeconfig(settings.kubeconfig, () => liveIn(revision, skipped));

  if (settings.mode === "cleanup") {
    const cluster = await live();
    for (const note of cluster.notes) core.info(`  ${note}`);
    const deactivated = await deactivateEnvironment(deployments, environment, actionLogger, context.runUrl);
    const id = await comment(commentApi, pr, marker, (previous) =>
      closedMarkdown(previous ? withoutMarker(previous.body) : undefined, {
        at: at(),
        removed: cluster.removed,
        ...(context.runUrl ? { runUrl: context.runUrl } : {}),
      }),
    );
    core.setOutput("url", "");
    core.setOutput("header", "");
    core.setOutput("verdict", "");
    core.setOutput("comment-id", id);
    await core.summary
      .addHeading(`modelship preview of PR #${pr} cleaned up`, 2)
      .addRaw(
        `${deactivated} GitHub Deployment(s) of ${environment} marked inactive. ${cluster.removed.length ? `Removed: ${cluster.removed.join(", ")}.` : "Nothing was left running."}${cluster.notes.length ? ` ${cluster.notes.join("; ")}.` : ""}`,
        true,
      )
      .write();
    return;
  }

  let recorder: DeploymentRecorder | undefined;
  const report = await withKubeconfig(settings.kubeconfig, async () => {
    try {
      return await evaluatePreview(config, {
        logger: actionLogger,
        workDir: process.env.RUNNER_TEMP ?? process.cwd(),
        ...((settings.baseSha ?? context.pullRequest?.baseSha)
          ? { baseSha: (settings.baseSha ?? context.pullRequest?.baseSha) as string }
          : {}),
        // Kubernetes: the candidate's image as the live preview, once it passed validation (a
        // runtime this runner cannot serve is then judged through it). A fork has no cluster access.
        ...(fork
          ? {}
          : {
              live: (model) =>
                liveIn(
                  settings.image
                    ? { id: `pr-${pr}`, model, image: settings.image, createdAt: at() }
                    : undefined,
                ),
            }),
        onCandidate: async (model) => {
          recorder = await startDeployment(
            deployments,
            {
              environment,
              ref: context.pullRequest?.headSha ?? refOf(context),
              description: `preview of PR #${pr}`,
              payload: { revision: `pr-${pr}`, modelDigest: model.digest },
              ...(context.runUrl ? { logUrl: context.runUrl } : {}),
            },
            actionLogger,
          );
        },
      });
    } catch (error) {
      await recorder?.status("error", { description: errorMessage(error) });
      throw error;
    }
  });
  // No live preview when the model failed validation; expired previews are swept all the same.
  let cluster = report.live;
  if (!cluster) {
    cluster = await live(
      undefined,
      settings.image ? "no live preview: the model did not pass validation" : undefined,
    );
    report.notes.push(...cluster.notes);
  }
  const url = settings.github.environmentUrl ?? cluster.url;
  const header = cluster.access?.header;
  const markdown = previewMarkdown(report, {
    ...(url ? { url } : {}),
    pullRequest: pr,
    ...(context.pullRequest?.headSha ? { headSha: context.pullRequest.headSha } : {}),
    ...(context.runUrl ? { runUrl: context.runUrl } : {}),
    notices,
    at: at(),
  });
  await recorder?.status(report.verdict === "pass" ? "success" : "failure", {
    description: `${report.verdict}: ${report.reason}`,
    ...(url ? { environmentUrl: url } : {}),
  });
  const id = await comment(commentApi, pr, marker, markdown);
  core.setOutput("url", url ?? "");
  core.setOutput("header", header ? `${header.name}: ${header.value}` : "");
  core.setOutput("verdict", report.verdict);
  core.setOutput("comment-id", id);
  core.setOutput("report", await writeReport("preview", report));
  await core.summary.addRaw(markdown, true).write();
  if (report.verdict === "fail" && settings.failOnRegression)
    core.setFailed(`PR #${pr}'s model would not pass the production gates: ${report.reason}`);
}
