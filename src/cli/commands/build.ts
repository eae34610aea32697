import { resolve } from "node:path";
import { buildImage } from "../../image/build.js";
import { validateModel } from "../../model/validate.js";
import { parse, UsageError } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

export const build: Command = {
  summary: "build a reproducible OCI image of the model (written as an OCI image layout)",
  help: `usage: modelship build --model DIR --image REF [--base oci:DIR[:TAG]] [--oci-layout DIR] [--json]
  Pushing to a registry (--insecure-registry HOST:PORT) is not available yet; use --oci-layout.`,
  async run(argv) {
    const { values } = parse(argv, {
      model: { type: "string" },
      image: { type: "string" },
      base: { type: "string" },
      "oci-layout": { type: "string" },
      "insecure-registry": { type: "string" },
      json: { type: "boolean" },
    });
    if (!values.model || !values.image) throw new UsageError("--model and --image are required");
    if (values["insecure-registry"]) {
      throw new UsageError(
        "pushing to a registry is not available yet; write the image with --oci-layout DIR",
      );
    }
    const modelDir = resolve(values.model);
    const validation = await validateModel(modelDir);
    if (!validation.accepted) {
      for (const f of validation.findings) log.error(`${f.code}: ${f.message}`);
      log.error("the model was rejected by validation; nothing was built");
      return 1;
    }
    const report = await buildImage({
      modelDir,
      image: values.image,
      base: values.base,
      ociLayout: values["oci-layout"] && resolve(values["oci-layout"]),
      labels: {
        "io.modelship.model.digest": validation.digest,
        "io.modelship.model.format": validation.format,
      },
    });
    if (values.json) printJson(report);
    else print(`${report.image}${report.ociLayout ? `\n  written to ${report.ociLayout}` : ""}`);
    return 0;
  },
};
