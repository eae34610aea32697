// Where registry credentials come from, in order: given explicitly (action inputs, flags), docker's
// config.json (credHelpers for the host, then auths, then credsStore), and GITHUB_TOKEN for ghcr.io.
// Helpers run as `docker-credential-NAME get` with the host on stdin — argv only, never a shell, and
// the helper name is checked so a hostile config cannot point at another program. Every secret found
// is passed to `onSecret` (core.setSecret in actions) before anything else happens with it.
import { homedir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { isMissing, readRegularText } from "../../util/regular-file.js";
import type { Credential } from "./auth.js";

export interface CredentialOptions {
  /** Credentials given explicitly, by registry host. */
  explicit?: Record<string, Credential>;
  env?: Record<string, string | undefined>;
  /** Runs a credential helper: returns its stdout. Replaceable so tests can count calls. */
  runHelper?: (helper: string, host: string) => Promise<string>;
  onSecret?: (secret: string) => void;
}

const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_CONFIG = 1 << 20;

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** docker's config keys may carry a scheme and path ("https://index.docker.io/v1/"); compare hosts. */
export function configKeyHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return host === "index.docker.io" || host === "registry-1.docker.io" ? "docker.io" : host;
}

export function dockerConfigPath(env: Record<string, string | undefined>): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), ".docker"), "config.json");
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readRegularText(path, { maxBytes: MAX_CONFIG, what: "docker config" });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
      throw new Error("not an object");
    return parsed as DockerConfig;
  } catch (err) {
    throw new Error(`${path} is not valid docker config JSON: ${(err as Error).message}`);
  }
}

export function decodeAuthField(auth: string, where: string): { username: string; password: string } {
  const decoded = Buffer.from(auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw new Error(`${where}: "auth" is not base64 of user:password`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function defaultRunHelper(helper: string, host: string): Promise<string> {
  const result = await execa(`docker-credential-${helper}`, ["get"], {
    input: host,
    reject: false,
    timeout: 30_000,
    stripFinalNewline: true,
  });
  if (result.exitCode !== 0) {
    // "credentials not found" is the helper's way of saying none are stored: anonymous, not an error.
    if (/not found/i.test(`${result.stdout}`)) return "";
    throw new Error(
      `docker-credential-${helper} get failed (exit ${result.exitCode ?? "?"}): ${String(result.stderr).slice(0, 200)}`,
    );
  }
  return String(result.stdout);
}

async function fromHelper(
  helper: string,
  host: string,
  options: CredentialOptions,
): Promise<Credential | undefined> {
  if (!HELPER_NAME.test(helper))
    throw new Error(`docker config names an invalid credential helper ${JSON.stringify(helper)}`);
  const out = await (options.runHelper ?? defaultRunHelper)(helper, host);
  if (out.trim() === "") return undefined;
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(out) as typeof parsed;
  } catch {
    throw new Error(`docker-credential-${helper} did not print JSON`);
  }
  if (typeof parsed.Secret !== "string" || parsed.Secret === "") return undefined;
  options.onSecret?.(parsed.Secret);
  const username = typeof parsed.Username === "string" ? parsed.Username : "";
  return username === "<token>" ? { identityToken: parsed.Secret } : { username, password: parsed.Secret };
}

/** The credential for a registry host, or undefined for anonymous access. */
export async function resolveCredential(
  host: string,
  options: CredentialOptions = {},
): Promise<Credential | undefined> {
  const env = options.env ?? process.env;
  const wanted = configKeyHost(host);
  const explicit = options.explicit?.[host] ?? options.explicit?.[wanted];
  if (explicit) {
    if ("password" in explicit) options.onSecret?.(explicit.password);
    else options.onSecret?.(explicit.identityToken);
    return explicit;
  }
  const path = dockerConfigPath(env);
  const config = await readDockerConfig(path);
  // Helpers store Docker Hub under the URL docker itself uses.
  const helperHost = wanted === "docker.io" ? "https://index.docker.io/v1/" : host;
  if (config) {
    const helper = Object.entries(config.credHelpers ?? {}).find(
      ([key]) => configKeyHost(key) === wanted,
    )?.[1];
    if (typeof helper === "string") return fromHelper(helper, helperHost, options);
    const entry = Object.entries(config.auths ?? {}).find(([key]) => configKeyHost(key) === wanted)?.[1];
    if (entry && typeof entry === "object") {
      if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
        options.onSecret?.(entry.identitytoken);
        return { identityToken: entry.identitytoken };
      }
      let credential: { username: string; password: string } | undefined;
      if (typeof entry.auth === "string" && entry.auth !== "")
        credential = decodeAuthField(entry.auth, `${path} auths.${host}`);
      else if (typeof entry.username === "string" && typeof entry.password === "string")
        credential = { username: entry.username, password: entry.password };
      if (credential) {
        options.onSecret?.(credential.password);
        return credential;
      }
    }
    if (typeof config.credsStore === "string" && config.credsStore !== "") {
      const stored = await fromHelper(config.credsStore, helperHost, options);
      if (stored) return stored;
    }
  }
  if (wanted === "ghcr.io" && env.GITHUB_TOKEN) {
    options.onSecret?.(env.GITHUB_TOKEN);
    // ghcr.io takes any username with a token; the actor makes audit logs readable.
    return { username: env.GITHUB_ACTOR || "x-access-token", password: env.GITHUB_TOKEN };
  }
  return undefined;
}
