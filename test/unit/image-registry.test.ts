import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseChallenges, tokenUrl } from "../../src/image/registry/auth.js";
import { backoffMs, retryAfterMs } from "../../src/image/registry/client.js";
import { configKeyHost, resolveCredential } from "../../src/image/registry/credentials.js";
import { parseErrorBody, RegistryError } from "../../src/image/registry/errors.js";
import { nextOffsetFromRange } from "../../src/image/registry/repository.js";

const temps: string[] = [];
afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function dockerConfig(config: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "modelship-dockercfg-"));
  temps.push(dir);
  await writeFile(join(dir, "config.json"), typeof config === "string" ? config : JSON.stringify(config));
  return dir;
}

describe("WWW-Authenticate challenges", () => {
  it("parses Bearer with quoted commas and escapes, and several challenges", () => {
    const [bearer, basic] = parseChallenges(
      'Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push",error="x\\"y", Basic realm="r"',
    );
    expect(bearer).toEqual({
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "reg",
        scope: "repository:a/b:pull,push",
        error: 'x"y',
      },
    });
    expect(basic).toEqual({ scheme: "basic", params: { realm: "r" } });
  });

  it("refuses malformed headers", () => {
    expect(() => parseChallenges('Bearer realm="unterminated')).toThrow(/unterminated/);
    expect(() => parseChallenges("=oops")).toThrow(/malformed/);
  });

  it("builds the token URL and refuses to send credentials over plain http to a secure registry", () => {
    const challenge = { scheme: "bearer", params: { realm: "https://auth.example/token", service: "svc" } };
    const url = tokenUrl(challenge, ["repository:a:pull,push", "repository:b:pull"], "https:");
    expect(url.searchParams.get("service")).toBe("svc");
    expect(url.searchParams.getAll("scope")).toEqual(["repository:a:pull,push", "repository:b:pull"]);
    const plain = { scheme: "bearer", params: { realm: "http://auth.example/token" } };
    expect(() => tokenUrl(plain, [], "https:")).toThrow(/only over https/);
    expect(tokenUrl(plain, [], "http:").protocol).toBe("http:");
    expect(() =>
      tokenUrl({ scheme: "bearer", params: { realm: "file:///etc/passwd" } }, [], "http:"),
    ).toThrow(/only over https/);
  });
});

describe("retry timing", () => {
  it("reads Retry-After as seconds or a date, capped at a minute", () => {
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs(new Date(10_000 + 5000).toUTCString(), 10_000)).toBe(5000);
    expect(retryAfterMs("99999")).toBe(60_000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });

  it("backs off exponentially with jitter inside [half, full] of the step, capped", () => {
    const policy = { attempts: 5, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffMs(1, policy, () => 0)).toBe(50);
    expect(backoffMs(1, policy, () => 1)).toBe(100);
    expect(backoffMs(3, policy, () => 1)).toBe(400);
    expect(backoffMs(10, policy, () => 1)).toBe(1000);
  });

  it("parses distribution's upload Range", () => {
    expect(nextOffsetFromRange("0-1023")).toBe(1024);
    expect(nextOffsetFromRange("bytes=0-9")).toBe(10);
    expect(nextOffsetFromRange("5-9")).toBeUndefined();
    expect(nextOffsetFromRange(undefined)).toBeUndefined();
  });
});

describe("registry errors", () => {
  it("reports the codes from the JSON body with a hint", () => {
    const details = parseErrorBody(
      JSON.stringify({ errors: [{ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" }] }),
    );
    const error = new RegistryError("push manifest v1", 400, details);
    expect(error.codes).toEqual(["MANIFEST_BLOB_UNKNOWN"]);
    expect(error.message).toMatch(
      /HTTP 400 \(MANIFEST_BLOB_UNKNOWN: blob unknown to registry\); .*push again/,
    );
  });

  it("treats hostile bodies as text: clipped, control characters removed", () => {
    const [detail] = parseErrorBody(`<html>\u001b[31m${"x".repeat(5000)}`);
    expect(detail?.message?.length).toBeLessThanOrEqual(201);
    expect(detail?.message?.includes("\u001b")).toBe(false);
    expect(parseErrorBody(JSON.stringify({ errors: [{ code: 42 }, null, { code: "DENIED" }] }))).toEqual([
      { code: "DENIED" },
    ]);
    expect(new RegistryError("x", 401, []).message).toMatch(/docker login/);
  });
});

describe("credentials", () => {
  it("normalises docker config keys to hosts", () => {
    expect(configKeyHost("https://index.docker.io/v1/")).toBe("docker.io");
    expect(configKeyHost("https://ghcr.io")).toBe("ghcr.io");
    expect(configKeyHost("localhost:5000")).toBe("localhost:5000");
  });

  it("reads auths (auth field and identitytoken) and masks every secret", async () => {
    const dir = await dockerConfig({
      auths: {
        "https://reg.example:5000": { auth: Buffer.from("alice:pa:ss").toString("base64") },
        "tok.example": { identitytoken: "refresh-me" },
      },
    });
    const secrets: string[] = [];
    const options = { env: { DOCKER_CONFIG: dir }, onSecret: (s: string) => secrets.push(s) };
    expect(await resolveCredential("reg.example:5000", options)).toEqual({
      username: "alice",
      password: "pa:ss",
    });
    expect(await resolveCredential("tok.example", options)).toEqual({ identityToken: "refresh-me" });
    expect(await resolveCredential("other.example", options)).toBeUndefined();
    expect(secrets).toEqual(["pa:ss", "refresh-me"]);
  });

  it("prefers explicit credentials, and uses GITHUB_TOKEN for ghcr.io only", async () => {
    const dir = await dockerConfig({ auths: {} });
    const env = { DOCKER_CONFIG: dir, GITHUB_TOKEN: "ghs_x", GITHUB_ACTOR: "octo" };
    expect(await resolveCredential("ghcr.io", { env })).toEqual({ username: "octo", password: "ghs_x" });
    expect(await resolveCredential("quay.io", { env })).toBeUndefined();
    const explicit = { "ghcr.io": { username: "me", password: "given" } };
    expect(await resolveCredential("ghcr.io", { env, explicit })).toEqual({
      username: "me",
      password: "given",
    });
  });

  it("runs a real credential helper with the host on stdin, argv only", async () => {
    const bin = await mkdtemp(join(tmpdir(), "modelship-helper-"));
    temps.push(bin);
    const helper = join(bin, "docker-credential-modelshiptest");
    await writeFile(
      helper,
      `#!${process.execPath}\nlet h="";process.stdin.on("data",d=>h+=d).on("end",()=>{if(process.argv[2]!=="get")process.exit(3);if(h==="none.example"){console.log("credentials not found in native keychain");process.exit(1)}console.log(JSON.stringify(h==="tok.example"?{Username:"<token>",Secret:"idtok"}:{Username:"u-"+h,Secret:"s-"+h}))});\n`,
    );
    await chmod(helper, 0o755);
    const dir = await dockerConfig({
      credHelpers: { "tok.example": "modelshiptest" },
      credsStore: "modelshiptest",
    });
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const env = { DOCKER_CONFIG: dir };
      expect(await resolveCredential("reg.example", { env })).toEqual({
        username: "u-reg.example",
        password: "s-reg.example",
      });
      expect(await resolveCredential("tok.example", { env })).toEqual({ identityToken: "idtok" });
      expect(await resolveCredential("none.example", { env })).toBeUndefined();
    } finally {
      process.env.PATH = path;
    }
  });

  it("refuses hostile docker configs with a clear error", async () => {
    const bad = await dockerConfig({ credHelpers: { "reg.example": "../../bin/sh" } });
    await expect(resolveCredential("reg.example", { env: { DOCKER_CONFIG: bad } })).rejects.toThrow(
      /invalid credential helper/,
    );
    const broken = await dockerConfig("{not json");
    await expect(resolveCredential("reg.example", { env: { DOCKER_CONFIG: broken } })).rejects.toThrow(
      /not valid docker config JSON/,
    );
    const noColon = await dockerConfig({
      auths: { "reg.example": { auth: Buffer.from("nocolon").toString("base64") } },
    });
    await expect(resolveCredential("reg.example", { env: { DOCKER_CONFIG: noColon } })).rejects.toThrow(
      /not base64 of user:password/,
    );
  });
});
