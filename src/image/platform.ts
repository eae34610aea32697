// Platforms (os/architecture[/variant]) as written by users (`linux/arm64`) and as found in image
// indexes and configs. Pure functions, shared by the layout reader, the registry side and the build.
import type { Platform } from "./blob.js";

export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };

const PART = /^[a-z0-9]{1,32}$/;

/** Parses "linux/amd64" or "linux/arm64/v8"; anything else is refused with the expected form. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, ...rest] = text.trim().split("/");
  if (
    !os ||
    !architecture ||
    rest.length > 0 ||
    !PART.test(os) ||
    !PART.test(architecture) ||
    (variant !== undefined && !PART.test(variant))
  ) {
    throw new Error(`platform ${JSON.stringify(text)} must look like linux/amd64 or linux/arm64/v8`);
  }
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Parses a list, refusing duplicates (two manifests for one platform make an ambiguous index). */
export function parsePlatforms(texts: readonly string[]): Platform[] {
  const platforms = texts.map(parsePlatform);
  const seen = new Set<string>();
  for (const p of platforms) {
    const key = formatPlatform(p);
    if (seen.has(key)) throw new Error(`platform ${key} is listed twice`);
    seen.add(key);
  }
  return platforms;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** Whether a found platform satisfies a wanted one; a wanted platform without variant takes any variant. */
export function platformMatches(found: Partial<Platform> | undefined, wanted: Platform): boolean {
  return (
    found?.os === wanted.os &&
    found.architecture === wanted.architecture &&
    (wanted.variant === undefined || found.variant === wanted.variant)
  );
}

/** "linux/amd64, linux/arm64/v8" for an error message. */
export function platformsOf(descriptors: readonly { platform?: Partial<Platform> }[]): string {
  return (
    descriptors
      .map((d) => (d.platform?.os && d.platform.architecture ? formatPlatform(d.platform as Platform) : "?"))
      .join(", ") || "none"
  );
}

/** The platform an image config declares. */
export function configPlatform(config: { os: string; architecture: string; variant?: unknown }): Platform {
  const p: Platform = { os: config.os, architecture: config.architecture };
  if (typeof config.variant === "string" && config.variant !== "") p.variant = config.variant;
  return p;
}
