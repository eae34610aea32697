import { describe, expect, it } from "vitest";
import {
  appendLayerToConfig,
  buildManifest,
  canonicalJson,
  type ImageConfig,
  MEDIA_TYPE,
  normalizeLayerMediaType,
  parseImageConfig,
  resolveCreated,
} from "../../src/image/manifest.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

describe("canonicalJson", () => {
  it("sorts keys at every level, keeps array order and drops undefined", () => {
    const a = canonicalJson({ b: 1, a: { z: [3, { y: 1, x: 2 }], c: undefined } });
    expect(a.toString()).toBe('{"a":{"z":[3,{"x":2,"y":1}]},"b":1}');
    expect(canonicalJson({ a: { z: [3, { x: 2, y: 1 }] }, b: 1 }).equals(a)).toBe(true);
  });
});

describe("resolveCreated", () => {
  it("defaults to the Unix epoch", () => {
    expect(resolveCreated(undefined, undefined)).toEqual({ iso: "1970-01-01T00:00:00Z", date: new Date(0) });
    expect(resolveCreated(undefined, "").iso).toBe("1970-01-01T00:00:00Z");
  });

  it("uses SOURCE_DATE_EPOCH, and an explicit time over it", () => {
    expect(resolveCreated(undefined, "1700000000").iso).toBe("2023-11-14T22:13:20Z");
    expect(resolveCreated("2024-01-31T13:00:00+01:00", "1700000000").iso).toBe("2024-01-31T12:00:00Z");
  });

  it("truncates to whole seconds, as tar stores them", () => {
    const { iso, date } = resolveCreated("2024-01-31T12:00:00.987Z");
    expect(iso).toBe("2024-01-31T12:00:00Z");
    expect(date.getTime() % 1000).toBe(0);
  });

  it.each([
    ["yesterday", undefined, /ISO 8601/],
    ["2024-13-01T00:00:00Z", undefined, /ISO 8601/],
    ["2024-01-01", undefined, /ISO 8601/],
    ["1960-01-01T00:00:00Z", undefined, /outside/],
    [undefined, "-5", /SOURCE_DATE_EPOCH/],
    [undefined, "1e9", /SOURCE_DATE_EPOCH/],
    [undefined, "now", /SOURCE_DATE_EPOCH/],
  ])("rejects created=%j SOURCE_DATE_EPOCH=%j", (created, epoch, message) => {
    expect(() => resolveCreated(created, epoch)).toThrow(message);
  });
});

describe("appendLayerToConfig", () => {
  const created = "2024-01-31T12:00:00Z";

  it("makes a linux/amd64 model-only config with labels", () => {
    const config = appendLayerToConfig(undefined, 0, { diffId: d(9), createdBy: "model" }, created, {
      "io.modelship.model.digest": d(7),
    });
    expect(config).toEqual({
      architecture: "amd64",
      os: "linux",
      created,
      config: { Labels: { "org.opencontainers.image.created": created, "io.modelship.model.digest": d(7) } },
      rootfs: { type: "layers", diff_ids: [d(9)] },
      history: [{ created, created_by: "model" }],
    });
  });

  it("keeps the base's layers, history, settings and labels; given labels win", () => {
    const base: ImageConfig = {
      architecture: "amd64",
      os: "linux",
      created: "2020-01-01T00:00:00Z",
      config: { Env: ["PATH=/bin"], Entrypoint: ["/serve"], Labels: { team: "a", keep: "yes" } },
      rootfs: { type: "layers", diff_ids: [d(1), d(2)] },
      history: [{ created_by: "one" }, { created_by: "two" }],
      custom: { x: 1 },
    };
    const config = appendLayerToConfig(base, 2, { diffId: d(3), createdBy: "model" }, created, { team: "b" });
    expect(config.rootfs.diff_ids).toEqual([d(1), d(2), d(3)]);
    expect(config.history?.map((h) => h.created_by)).toEqual(["one", "two", "model"]);
    expect(config.config?.Env).toEqual(["PATH=/bin"]);
    expect(config.config?.Entrypoint).toEqual(["/serve"]);
    expect(config.config?.Labels).toEqual({
      team: "b",
      keep: "yes",
      "org.opencontainers.image.created": created,
    });
    expect(config.created).toBe(created);
    expect(config.custom).toEqual({ x: 1 });
    // the base object is not mutated
    expect(base.rootfs.diff_ids).toHaveLength(2);
    expect(base.config?.Labels).toEqual({ team: "a", keep: "yes" });
  });

  it("gives a base without history one entry per layer", () => {
    const base: ImageConfig = {
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [d(1)] },
    };
    const config = appendLayerToConfig(base, 1, { diffId: d(2), createdBy: "model" }, created);
    expect(config.history).toHaveLength(2);
  });

  it("refuses a base whose diff_ids do not match its layers", () => {
    const base: ImageConfig = {
      architecture: "amd64",
      os: "linux",
      rootfs: { type: "layers", diff_ids: [d(1)] },
    };
    expect(() => appendLayerToConfig(base, 2, { diffId: d(2), createdBy: "m" }, created)).toThrow(
      /1 diff_ids but its manifest has 2 layers/,
    );
  });
});

describe("buildManifest", () => {
  it("is an OCI manifest with the config and layers in order", () => {
    const config = { mediaType: MEDIA_TYPE.config, digest: d(1), size: 10 };
    const layers = [
      { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d(2), size: 20 },
      { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: d(3), size: 30 },
    ];
    const manifest = buildManifest(config, layers, { a: "b" });
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config,
      layers,
      annotations: { a: "b" },
    });
    expect(buildManifest(config, layers, {}).annotations).toBeUndefined();
  });
});

describe("base parsing", () => {
  it("maps docker layer types to OCI and refuses foreign layers", () => {
    expect(normalizeLayerMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip")).toBe(
      "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    expect(() =>
      normalizeLayerMediaType("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
    ).toThrow(/unsupported media type/);
  });

  it("parses a config and refuses malformed ones, naming the source", () => {
    const good = {
      architecture: "amd64",
      os: "linux",
      config: null,
      rootfs: { type: "layers", diff_ids: [d(1)] },
    };
    expect(parseImageConfig(Buffer.from(JSON.stringify(good)), "cfg").rootfs.diff_ids).toEqual([d(1)]);
    const bad = { ...good, rootfs: { type: "layers", diff_ids: ["sha256:../../etc/passwd"] } };
    expect(() => parseImageConfig(Buffer.from(JSON.stringify(bad)), "config X")).toThrow(
      /config X is malformed/,
    );
    expect(() => parseImageConfig(Buffer.from("{"), "config Y")).toThrow(/config Y is not valid JSON/);
    expect(() => parseImageConfig(Buffer.from("{}"), "config Z")).toThrow(/config Z is malformed/);
  });
});
