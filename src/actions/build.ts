import { resolve } from "node:path";
import * as core from "@actions/core";
import { buildImage } from "../image/build.js";
import { validateModel } from "../model/validate.js";
import { markdownTable } from "../util/table.js";
import { writeReport } from "./common.js";

export async function buildAction(): Promise<void> {
  const modelDir = resolve(core.getInput("model", { required: true }));
  const validation = await validateModel(modelDir);
  if (!validation.accepted) {
    throw new Error(
      `the model was rejected by validation (${validation.findings.map((f) => f.code).join(", ")}); nothing was built`,
    );
  }
  const layout = core.getInput("oci-layout");
  const report = await buildImage({
    modelDir,
    image: core.getInput("image", { required: true }),
    base: core.getInput("base") || undefined,
    ociLayout: layout ? resolve(layout) : undefined,
    labels: {
      "io.modelship.model.digest": validation.digest,
      "io.modelship.model.format": validation.format,
    },
  });
  core.setOutput("image", report.image);
  core.setOutput("digest", report.digest);
  core.setOutput("report", await writeReport("build", report));
  await core.summary
    .addHeading("📦 modelship build", 2)
    .addRaw(
      markdownTable(
        ["image", "layers", "model digest"],
        [[`\`${report.image}\``, report.layers.length, `\`${validation.digest}\``]],
      ),
      true,
    )
    .write();
}
