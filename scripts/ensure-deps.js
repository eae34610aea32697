// Installs what the tests and the demo need when it is missing, so `npm test` and `npm run demo`
// work on a fresh clone with nothing installed by hand:
// - npm dependencies (npm ci) when node_modules is missing or older than the lockfile;
// - with --system, the Debian packages the integration tests and benchmarks run for real
//   (an OCI registry, skopeo, nginx, wrk), through apt-get;
// - with --python, the virtualenv of independent model-file checkers (picklescan, fickling,
//   modelscan, onnx, safetensors) that the differential tests run, once per machine.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { checkersRequirements, checkersVenvDir } from "./python-env.js";

const run = (command, args) => {
  const result = spawnSync(command, args, {
    stdio: "inherit",
    // onnxruntime-node's install script would download CUDA parts (offline: a failed install):
    // .npmrc runs no install scripts, and this variable skips that one should it run all the same.
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive", ONNXRUNTIME_NODE_INSTALL: "skip" },
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

const marker = "node_modules/.package-lock.json";
if (!existsSync(marker) || statSync("package-lock.json").mtimeMs > statSync(marker).mtimeMs) {
  console.error("modelship: installing npm dependencies (npm ci)…");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

// Debian package → a binary it provides.
const systemPackages = {
  "docker-registry": "/usr/bin/docker-registry",
  skopeo: "/usr/bin/skopeo",
  "nginx-light": "/usr/sbin/nginx",
  wrk: "/usr/bin/wrk",
  // Real Prometheus scrapes real model servers in the metrics tests.
  prometheus: "/usr/bin/prometheus",
  // The registry tests sign tokens with openssl's certificate and hash htpasswd entries with perl.
  openssl: "/usr/bin/openssl",
  perl: "/usr/bin/perl",
};

if (process.argv.includes("--system")) {
  const missing = Object.entries(systemPackages)
    .filter(([, binary]) => !existsSync(binary))
    .map(([name]) => name);
  if (missing.length > 0) {
    if (!existsSync("/usr/bin/apt-get")) {
      console.error(
        `modelship: the tests need these Debian packages: ${missing.join(", ")}; install them first`,
      );
      process.exit(1);
    }
    // apt-get needs root: as root directly, otherwise through sudo.
    const apt = (...args) =>
      process.getuid?.() === 0 ? run("apt-get", args) : run("sudo", ["apt-get", ...args]);
    console.error(`modelship: installing ${missing.join(", ")} (apt-get)…`);
    apt("update", "-qq");
    apt("install", "-y", "-qq", "--no-install-recommends", ...missing);
  }
}

if (process.argv.includes("--python")) {
  const venv = checkersVenvDir();
  const complete = join(venv, ".complete");
  if (!existsSync(complete)) {
    // A half-built virtualenv (an interrupted run) is rebuilt from scratch; the marker is written last.
    rmSync(venv, { recursive: true, force: true });
    mkdirSync(dirname(venv), { recursive: true });
    console.error(`modelship: building the test checkers' virtualenv in ${venv} (pip)…`);
    run("python3", ["-m", "venv", venv]);
    run(join(venv, "bin", "python"), [
      "-m",
      "pip",
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "--no-deps",
      "--requirement",
      checkersRequirements,
    ]);
    writeFileSync(complete, "");
  }
}
