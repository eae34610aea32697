// Auth and faults against a real registry: htpasswd Basic, distribution's token auth with the test
// issuer, and a fault proxy injecting 500s, 429s, resets mid-upload and an expired token mid-push.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../src/image/build.js";
import type { RegistryOptions } from "../../src/image/remote.js";
import type { Fault } from "../support/fault-proxy.js";
import { useRegistryBehindFaultProxy } from "../support/faulty-registry.js";
import { skopeo, startRegistry, type TestRegistry } from "../support/registry.js";

const USERS = { alice: "correct horse", bob: "battery staple" };
const FAST_RETRY = { attempts: 6, baseDelayMs: 20, maxDelayMs: 200 };
const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function model(bytes: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-auth-"));
  temps.push(dir);
  await mkdir(join(dir, "m"));
  await writeFile(join(dir, "m", "weights.bin"), bytes);
  return join(dir, "m");
}

function alice(host: string, extra: Partial<RegistryOptions> = {}): RegistryOptions {
  return {
    insecureRegistries: [host],
    credentials: { explicit: { [host]: { username: "alice", password: USERS.alice } }, env: {} },
    retry: FAST_RETRY,
    ...extra,
  };
}

/** skopeo copies the image out; returns the manifest digest and whether the layer holds the bytes. */
async function verify(host: string, ref: string, weights: Buffer, creds?: string) {
  const out = await mkdtemp(join(tmpdir(), "modelship-verify-"));
  temps.push(out);
  const auth = creds ? ["--src-creds", creds] : [];
  await skopeo([
    "copy",
    "--src-tls-verify=false",
    ...auth,
    `docker://${host}/${ref}`,
    `dir:${join(out, "d")}`,
  ]);
  const manifestBytes = await readFile(join(out, "d", "manifest.json"));
  const manifest = JSON.parse(manifestBytes.toString("utf8"));
  const layer = await readFile(join(out, "d", manifest.layers.at(-1).digest.slice(7)));
  return {
    digest: `sha256:${createHash("sha256").update(manifestBytes).digest("hex")}`,
    hasModel: layer.includes(weights),
  };
}

describe("htpasswd Basic auth", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "htpasswd", users: USERS });
  });
  afterAll(() => registry?.stop());

  it("pushes with credentials from docker's config.json", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-cfg-"));
    temps.push(dir);
    const auth = Buffer.from(`bob:${USERS.bob}`).toString("base64");
    await writeFile(
      join(dir, "config.json"),
      JSON.stringify({ auths: { [`http://${registry.host}`]: { auth } } }),
    );
    const weights = Buffer.from("basic-auth-weights".repeat(1000));
    const secrets: string[] = [];
    const report = await buildImage({
      modelDir: await model(weights),
      image: `${registry.host}/team/iris:v1`,
      push: true,
      registry: {
        insecureRegistries: [registry.host],
        credentials: { env: { DOCKER_CONFIG: dir }, onSecret: (s) => secrets.push(s) },
      },
    });
    expect(secrets).toEqual([USERS.bob]);
    const seen = await verify(registry.host, "team/iris:v1", weights, `bob:${USERS.bob}`);
    expect(seen).toEqual({ digest: report.digest, hasModel: true });
  });

  it("fails with UNAUTHORIZED and a hint without credentials or with a wrong password, pushing nothing", async () => {
    const modelDir = await model(Buffer.from("x"));
    const image = `${registry.host}/team/denied:v1`;
    await expect(
      buildImage({
        modelDir,
        image,
        push: true,
        registry: { insecureRegistries: [registry.host], credentials: { env: {} } },
      }),
    ).rejects.toThrow(/HTTP 401.*UNAUTHORIZED.*docker login/);
    const wrong = { explicit: { [registry.host]: { username: "alice", password: "nope" } }, env: {} };
    await expect(
      buildImage({
        modelDir,
        image,
        push: true,
        registry: { insecureRegistries: [registry.host], credentials: wrong },
      }),
    ).rejects.toThrow(/HTTP 401/);
    await expect(
      skopeo(["inspect", "--tls-verify=false", "--creds", `alice:${USERS.alice}`, `docker://${image}`]),
    ).rejects.toThrow(/manifest unknown|name unknown|not found/i);
  });
});

describe("token auth", () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ kind: "token", users: USERS });
  });
  afterAll(() => registry?.stop());

  it("asks the issuer for push scope, and accepts access_token too", async () => {
    const issuer = registry.issuer;
    if (!issuer) throw new Error("no issuer");
    const weights = Buffer.from("token-weights".repeat(2000));
    const report = await buildImage({
      modelDir: await model(weights),
      image: `${registry.host}/team/tok:v1`,
      push: true,
      registry: alice(registry.host),
    });
    expect(issuer.scopes).toContain("repository:team/tok:pull,push");
    expect(await verify(registry.host, "team/tok:v1", weights, `alice:${USERS.alice}`)).toEqual({
      digest: report.digest,
      hasModel: true,
    });

    issuer.useAccessTokenField = true;
    try {
      const again = await buildImage({
        modelDir: await model(Buffer.from("other")),
        image: `${registry.host}/team/tok:v2`,
        push: true,
        registry: alice(registry.host),
      });
      expect(again.pushed?.uploaded).toBe(2);
    } finally {
      issuer.useAccessTokenField = false;
    }
  });

  it("anonymous callers get a pull-only token: the push is denied with a hint", async () => {
    await expect(
      buildImage({
        modelDir: await model(Buffer.from("anon")),
        image: `${registry.host}/team/anon:v1`,
        push: true,
        registry: { insecureRegistries: [registry.host], credentials: { env: {} }, retry: FAST_RETRY },
      }),
    ).rejects.toThrow(/HTTP 401.*(UNAUTHORIZED|DENIED)/);
  });
});

describe("faults between client and registry", () => {
  const faulty = useRegistryBehindFaultProxy({ kind: "token", users: USERS });

  const isUpload = (method: string, path: string) =>
    (method === "PUT" || method === "PATCH") && path.includes("/blobs/uploads/");

  it("completes through 500s, a 429 with Retry-After, a reset mid-upload and an expired token", async () => {
    const issuer = faulty.registry.issuer;
    if (!issuer) throw new Error("no issuer");
    const weights = Buffer.alloc(3 << 20);
    for (let i = 0; i < weights.length; i++) weights[i] = (i * 31 + (i >> 11)) & 0xff;
    let uploads = 0;
    let manifests = 0;
    const challenge = `Bearer realm="${issuer.url}",service="${issuer.service}",error="invalid_token"`;
    faulty.proxy.rule = (req): Fault | undefined => {
      if (req.method === "HEAD") return undefined;
      if (req.method === "POST" && req.path.includes("/blobs/uploads/") && uploads === 0) {
        uploads++;
        return { kind: "status", status: 500, body: '{"errors":[{"code":"UNKNOWN","message":"boom"}]}' };
      }
      if (isUpload(req.method, req.path) && req.path.includes("digest=") && uploads === 1) {
        uploads++;
        return { kind: "reset", afterBytes: 1 << 20 };
      }
      if (isUpload(req.method, req.path) && uploads === 2) {
        uploads++;
        return { kind: "status", status: 401, headers: { "www-authenticate": challenge } };
      }
      if (req.method === "PUT" && req.path.includes("/manifests/") && manifests === 0) {
        manifests++;
        return { kind: "status", status: 429, headers: { "retry-after": "1" } };
      }
      return undefined;
    };
    const tokensBefore = issuer.issued;
    const report = await buildImage({
      modelDir: await model(weights),
      image: `${faulty.proxy.host}/team/faulty:v1`,
      push: true,
      registry: alice(faulty.proxy.host),
    });
    faulty.proxy.rule = () => undefined;
    expect(faulty.proxy.faults.map((f) => (f.fault.kind === "status" ? f.fault.status : "reset"))).toEqual([
      500,
      "reset",
      401,
      429,
    ]);
    expect(issuer.issued).toBeGreaterThan(tokensBefore + 1); // a fresh token after the 401
    expect(await verify(faulty.registry.host, "team/faulty:v1", weights, `alice:${USERS.alice}`)).toEqual({
      digest: report.digest,
      hasModel: true,
    });
  });

  it("resumes a chunked upload after a reset mid-chunk", async () => {
    const weights = Buffer.alloc(1 << 20, 3);
    let patches = 0;
    faulty.proxy.faults.length = 0;
    faulty.proxy.rule = (req) => {
      if (req.method === "PATCH" && ++patches === 3) return { kind: "reset", afterBytes: 10_000 };
      return undefined;
    };
    const report = await buildImage({
      modelDir: await model(weights),
      image: `${faulty.proxy.host}/team/chunky:v1`,
      push: true,
      registry: alice(faulty.proxy.host, { chunkSize: 256 << 10 }),
    });
    faulty.proxy.rule = () => undefined;
    expect(faulty.proxy.faults).toHaveLength(1);
    expect(await verify(faulty.registry.host, "team/chunky:v1", weights, `alice:${USERS.alice}`)).toEqual({
      digest: report.digest,
      hasModel: true,
    });
  });

  it("gives up after repeated 503s with the status in the error, leaving no tag behind", async () => {
    faulty.proxy.rule = (req) =>
      req.method === "POST" && req.path.includes("/blobs/uploads/")
        ? { kind: "status", status: 503 }
        : undefined;
    await expect(
      buildImage({
        modelDir: await model(Buffer.from("never")),
        image: `${faulty.proxy.host}/team/down:v1`,
        push: true,
        registry: alice(faulty.proxy.host, { retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 10 } }),
      }),
    ).rejects.toThrow(/HTTP 503/);
    faulty.proxy.rule = () => undefined;
    await expect(
      skopeo([
        "inspect",
        "--tls-verify=false",
        "--creds",
        `alice:${USERS.alice}`,
        `docker://${faulty.registry.host}/team/down:v1`,
      ]),
    ).rejects.toThrow(/unknown|not found/i);
  });
});
