// Image references, following the grammar of distribution/reference:
//   [host[:port]/]path-component(/path-component)*[:tag][@sha256:hex]
// References end up in registry URLs, file annotations and log lines, so anything outside the grammar is
// rejected here rather than escaped later.

export interface ImageReference {
  /** host[:port] as written; undefined when the reference names no registry. */
  registry?: string;
  /** The repository path, e.g. "acme/iris". */
  repository: string;
  /** [registry/]repository, as written. */
  name: string;
  tag?: string;
  digest?: string;
}

const MAX_INPUT = 512;
const MAX_NAME = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const HOST = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::([0-9]{1,5}))?$`);
/** A tag as the distribution spec allows it. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export class ImageReferenceError extends Error {
  constructor(input: string, reason: string) {
    super(`invalid image reference ${JSON.stringify(input)}: ${reason}`);
    this.name = "ImageReferenceError";
  }
}

/** Parses and validates an image reference; throws an ImageReferenceError saying what is wrong. */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new ImageReferenceError(input.length > 80 ? `${input.slice(0, 80)}…` : input, reason);
  };
  if (input.length === 0) fail("it is empty");
  if (input.length > MAX_INPUT) fail(`it is longer than ${MAX_INPUT} characters`);
  if (/\s/.test(input)) fail("it contains whitespace");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`digest "${digest}" is not sha256: followed by 64 lowercase hex digits`);
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      fail(
        `tag "${tag}" must be 1-128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"`,
      );
    }
  }

  const name = rest;
  if (name.length === 0) fail("the repository name is empty");
  if (name.length > MAX_NAME) fail(`the repository name is longer than ${MAX_NAME} characters`);

  const parts = name.split("/");
  let registry: string | undefined;
  const first = parts[0] ?? "";
  // Same rule as docker: the first component is a host when it looks like one.
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    registry = first;
    parts.shift();
    const match = HOST.exec(registry);
    if (!match) fail(`registry host "${registry}" is not a valid host[:port]`);
    const port = match?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      fail(`registry port ${port} is out of range`);
    }
  }
  for (const part of parts) {
    if (part.length === 0)
      fail("the repository path has an empty component (leading, trailing or doubled '/')");
    if (!PATH_COMPONENT.test(part)) {
      fail(
        `repository path component "${part}" must be lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }

  const ref: ImageReference = { repository: parts.join("/"), name };
  if (registry !== undefined) ref.registry = registry;
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

export function formatReference(ref: ImageReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}
