// Registry auth as the distribution spec describes it: the registry answers 401 with a
// WWW-Authenticate challenge; Basic sends the credentials on every request, Bearer trades them at the
// challenge's realm for a token scoped to the repositories and actions needed. Parsing is pure; the
// token exchange goes through the same transport as everything else.
import type { HttpResponse, Transport } from "./http.js";

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** A username and password, or a refresh token from `docker login` (identitytoken / helper "<token>"). */
export type Credential =
  | { username: string; password: string }
  | { identityToken: string; username?: string };

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/**
 * Parses a WWW-Authenticate header into challenges: `Bearer realm="…",service="…",scope="…"`.
 * Quoted values may contain commas and escaped quotes; unknown schemes are kept for the caller to refuse.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header.trim();
  let current: Challenge | undefined;
  while (rest.length > 0) {
    const name = TOKEN.exec(rest)?.[0];
    if (!name) throw new Error(`malformed WWW-Authenticate header: ${JSON.stringify(header.slice(0, 200))}`);
    rest = rest.slice(name.length).trimStart();
    if (rest.startsWith("=")) {
      if (!current)
        throw new Error(`malformed WWW-Authenticate header: ${JSON.stringify(header.slice(0, 200))}`);
      rest = rest.slice(1).trimStart();
      let value: string;
      if (rest.startsWith('"')) {
        let i = 1;
        value = "";
        while (i < rest.length && rest[i] !== '"') {
          if (rest[i] === "\\" && i + 1 < rest.length) i++;
          value += rest[i];
          i++;
        }
        if (i >= rest.length) throw new Error("malformed WWW-Authenticate header: unterminated quoted value");
        rest = rest.slice(i + 1);
      } else {
        value = TOKEN.exec(rest)?.[0] ?? "";
        rest = rest.slice(value.length);
      }
      current.params[name.toLowerCase()] = value;
    } else {
      current = { scheme: name.toLowerCase(), params: {} };
      challenges.push(current);
    }
    rest = rest.trimStart();
    if (rest.startsWith(",")) rest = rest.slice(1).trimStart();
  }
  return challenges;
}

export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

export function basicHeader(credential: Credential): string {
  if ("identityToken" in credential) {
    throw new Error("this registry asks for Basic auth, but the stored credential is an identity token");
  }
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString("base64")}`;
}

/**
 * The token endpoint URL for a bearer challenge. The realm comes from the registry: it must be http(s),
 * and plain http only when the registry itself was reached over http (an insecure registry).
 */
export function tokenUrl(challenge: Challenge, scopes: readonly string[], registryProtocol: string): URL {
  const realm = challenge.params.realm;
  if (!realm) throw new Error("the registry's Bearer challenge names no realm");
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new Error(`the registry's token realm is not a URL: ${JSON.stringify(realm.slice(0, 200))}`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && registryProtocol === "http:")) {
    throw new Error(`refusing token realm ${url.origin}: credentials go only over https`);
  }
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  for (const scope of scopes) url.searchParams.append("scope", scope);
  return url;
}

export interface TokenResult {
  token: string;
}

async function readToken(res: HttpResponse, realm: string): Promise<TokenResult> {
  const body = await res.text(1 << 20);
  if (res.status !== 200) {
    throw Object.assign(
      new Error(
        `token server ${realm} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ": the credentials were refused" : ""}`,
      ),
      { status: res.status },
    );
  }
  let parsed: { token?: unknown; access_token?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    throw new Error(`token server ${realm} did not answer JSON`);
  }
  const token = typeof parsed.token === "string" && parsed.token !== "" ? parsed.token : parsed.access_token;
  if (typeof token !== "string" || token === "" || /[\s\0]/.test(token)) {
    throw new Error(`token server ${realm} answered without a usable token or access_token`);
  }
  return { token };
}

/**
 * Fetches a bearer token: GET with Basic credentials (or anonymously), or the OAuth2 refresh-token grant
 * when the credential is an identity token, as docker does.
 */
export async function fetchToken(
  transport: Transport,
  challenge: Challenge,
  scopes: readonly string[],
  credential: Credential | undefined,
  registryProtocol: string,
): Promise<TokenResult> {
  const url = tokenUrl(challenge, scopes, registryProtocol);
  const realm = `${url.origin}${url.pathname}`;
  if (credential && "identityToken" in credential) {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: credential.identityToken,
      service: challenge.params.service ?? "",
      scope: scopes.join(" "),
      client_id: "modelship",
    });
    const post = new URL(realm);
    const res = await transport.send({
      method: "POST",
      url: post,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: Buffer.from(form.toString()),
    });
    return readToken(res, realm);
  }
  const headers: Record<string, string> = {};
  if (credential) headers.authorization = basicHeader(credential);
  const res = await transport.send({ method: "GET", url, headers });
  return readToken(res, realm);
}
