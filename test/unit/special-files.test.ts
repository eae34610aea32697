// Every user-named file the product reads (or has kubectl read) outside model validation, given a FIFO (a plain open or
// read waits for a writer forever) or /dev/zero (never ends): each reader refuses at once, naming
// the path. The config and the ledger have their own tests (config-load, ledger-store).
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBaseline } from "../../src/bench/baseline.js";
import { loadBodies } from "../../src/bench/bodies.js";
import { loadRows, loadTemplate } from "../../src/bench/template.js";
import { readRunContext } from "../../src/github/context.js";
import { resolveCredential } from "../../src/image/registry/credentials.js";
import { Kubectl } from "../../src/kube/kubectl.js";
import { loadTemplate as loadDeploymentTemplate } from "../../src/targets/kubernetes/template.js";

let dir: string;
let fifo: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-special-"));
  fifo = join(dir, "pipe");
  execFileSync("mkfifo", [fifo]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The error `read` fails with, within a second (a reader that blocks fails the test's own timeout). */
async function refusal(read: () => unknown): Promise<string> {
  const started = Date.now();
  let message = "";
  try {
    await read();
  } catch (error) {
    message = (error as Error).message;
  }
  expect(Date.now() - started).toBeLessThan(1_000);
  return message;
}

/** A reader given the special file's path; returns what it read and the path its error must name. */
type Reader = (path: string) => { read: () => unknown; names: string };
const direct =
  (read: (path: string) => unknown): Reader =>
  (path) => ({ read: () => read(path), names: path });

const readers: [string, Reader][] = [
  ["request bodies and eval sets (loadBodies)", direct((path) => loadBodies(path))],
  ["template rows (loadRows)", direct((path) => loadRows(path))],
  ["a request template (loadTemplate)", direct((path) => loadTemplate(path))],
  ["a benchmark baseline (loadBaseline)", direct((path) => loadBaseline(path))],
  ["the event payload (GITHUB_EVENT_PATH)", direct((path) => readRunContext({ GITHUB_EVENT_PATH: path }))],
  ["target.template (the Deployment manifest)", direct((path) => loadDeploymentTemplate(path))],
  [
    "docker's config.json (registry credentials)",
    (path) => {
      // DOCKER_CONFIG names the directory; its config.json is (a link to) the special file.
      const configDir = join(dir, `docker-${Math.random().toString(36).slice(2)}`);
      mkdirSync(configDir);
      symlinkSync(path, join(configDir, "config.json"));
      return {
        read: () => resolveCredential("registry.example", { env: { DOCKER_CONFIG: configDir } }),
        names: join(configDir, "config.json"),
      };
    },
  ],
];

describe.each(readers)("%s", (_name, reader) => {
  it("refuses a FIFO at once, naming it", { timeout: 5_000 }, async () => {
    const { read, names } = reader(fifo);
    const message = await refusal(read);
    expect(message).toContain(names);
    expect(message).toContain("is a named pipe (FIFO), not a regular file");
  });

  it("refuses /dev/zero without reading it", { timeout: 5_000 }, async () => {
    const before = process.memoryUsage().rss;
    const { read, names } = reader("/dev/zero");
    const message = await refusal(read);
    expect(message).toContain(names);
    expect(message).toContain("is a character device, not a regular file");
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });
});

describe("the kubeconfig kubectl will read (kubectl itself hangs on a FIFO, and reads /dev/zero to 9 GB)", () => {
  // A kubectl that does nothing: the check happens before it would run.
  const kubectl = (kubeconfig?: string) =>
    new Kubectl({ kubectl: "/bin/true", namespace: "ns", ...(kubeconfig ? { kubeconfig } : {}) });

  it("target.kubeconfig at a FIFO or /dev/zero is refused at once, naming it", {
    timeout: 5_000,
  }, async () => {
    expect(await refusal(() => kubectl(fifo).run(["get", "pods"]))).toBe(
      `kubeconfig (target.kubeconfig) ${fifo} is a named pipe (FIFO), not a regular file; kubectl cannot read it. Fix: point target.kubeconfig at a kubeconfig file`,
    );
    expect(await refusal(() => kubectl("/dev/zero").run(["get", "pods"]))).toContain(
      "kubeconfig (target.kubeconfig) /dev/zero is a character device, not a regular file",
    );
  });

  it("each file in KUBECONFIG is checked; missing ones are left to kubectl, as it skips them", {
    timeout: 5_000,
  }, async () => {
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = [join(dir, "missing"), fifo].join(delimiter);
      expect(await refusal(() => kubectl().run(["get", "pods"]))).toContain(
        `kubeconfig (KUBECONFIG) ${fifo} is a named pipe (FIFO)`,
      );
      process.env.KUBECONFIG = join(dir, "missing");
      expect(await kubectl().run(["get", "pods"])).toBe("");
    } finally {
      process.env.KUBECONFIG = saved;
    }
  });
});
