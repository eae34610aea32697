// Systematic mutations of ONNX models written by onnx.helper: each initializer's data made one
// short, one long, empty, doubled into two fields, re-typed, re-shaped, renamed, moved to external
// data; sparse indices and dims broken; attribute tensors, If-branch initializers and function
// bodies broken; single assignment broken. A case is a model plus the files beside it.
import { onnx, type pb } from "../../src/model/onnx-proto.js";

export interface OnnxCase {
  name: string;
  model: Uint8Array;
  files?: Record<string, Uint8Array>;
}

type Mutate = (m: pb.ModelProto) => void;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

const FIELDS = ["floatData", "int32Data", "stringData", "int64Data", "doubleData", "uint64Data"] as const;
type Field = (typeof FIELDS)[number];

function typedField(t: pb.ITensorProto): Field | undefined {
  return FIELDS.find((f) => (t[f]?.length ?? 0) > 0);
}

/** Decoded messages always carry their repeated fields as arrays; the class types say so. */
const graphOf = (m: pb.ModelProto) => m.graph as pb.GraphProto;
const attributeTensor = (node: pb.INodeProto | undefined) => node?.attribute?.[0]?.t ?? undefined;

const init = (m: pb.ModelProto, name = "w"): pb.TensorProto => {
  const found = graphOf(m).initializer.find((t) => t.name === name);
  if (!found) throw new Error(`no initializer ${name}`);
  return found as pb.TensorProto;
};

/** Data mutations for one tensor, each a (label, change) pair. */
function tensorMutations(): [string, (t: pb.ITensorProto) => void][] {
  return [
    [
      "raw-1",
      (t) => {
        if (t.rawData?.length) t.rawData = t.rawData.subarray(0, t.rawData.length - 1);
      },
    ],
    [
      "raw+1",
      (t) => {
        if (t.rawData?.length) t.rawData = Buffer.concat([t.rawData, Buffer.alloc(1)]);
      },
    ],
    [
      "typed-1",
      (t) => {
        const f = typedField(t);
        if (f) (t[f] as unknown[]).pop();
      },
    ],
    [
      "typed+1",
      (t) => {
        const f = typedField(t);
        if (f) (t[f] as unknown[]).push((t[f] as unknown[])[0]);
      },
    ],
    [
      "no-data",
      (t) => {
        t.rawData = new Uint8Array(0);
        for (const f of FIELDS) t[f] = [];
      },
    ],
    [
      "two-fields",
      (t) => {
        if (t.rawData?.length) t.floatData = [1];
        else t.rawData = new Uint8Array(64);
      },
    ],
    [
      "dims-append-2",
      (t) => {
        t.dims = [...(t.dims ?? []), 2];
      },
    ],
    [
      "dims-drop",
      (t) => {
        t.dims = (t.dims ?? []).slice(1);
      },
    ],
    [
      "dims-negative",
      (t) => {
        t.dims = [-1, ...(t.dims ?? []).slice(1)];
      },
    ],
    [
      "dims-zero",
      (t) => {
        t.dims = [0];
      },
    ],
    [
      "dims-overflow",
      (t) => {
        t.dims = [2 ** 62, 4];
      },
    ],
  ];
}

const reencode = (bytes: Uint8Array, mutate: Mutate) => {
  const m = onnx.ModelProto.decode(bytes);
  mutate(m);
  return onnx.ModelProto.encode(m).finish();
};

/**
 * `bases` maps each written case name to its model bytes (and the files beside it). Cases are
 * made from the init-*-2x3-*, init-*-0-* and scalar bases, the sparse, constant, if, ir3, external
 * and function bases.
 */
export function mutations(
  bases: Map<string, { model: Uint8Array; files?: Record<string, Uint8Array> }>,
): OnnxCase[] {
  const cases: OnnxCase[] = [];
  const base = (name: string) => {
    const b = bases.get(name);
    if (!b) throw new Error(`no base ${name}`);
    return b;
  };
  const add = (name: string, from: string, mutate: Mutate, files?: Record<string, Uint8Array>) => {
    const b = base(from);
    cases.push({
      name,
      model: reencode(b.model, mutate),
      ...(files || b.files ? { files: { ...b.files, ...files } } : {}),
    });
  };

  // Every data type and storage: the initializer's data against its dims.
  for (const name of bases.keys()) {
    if (!/^init-.*-(2x3|0|scalar)-(typed|raw)$|^init-numpy-/.test(name)) continue;
    for (const [label, change] of tensorMutations()) add(`${name}~${label}`, name, (m) => change(init(m)));
  }

  // Re-typing: a tensor's data read as every data type code, and codes onnx does not define.
  for (const from of [
    "init-FLOAT-2x3-typed",
    "init-FLOAT-2x3-raw",
    "init-INT64-2x3-typed",
    "init-STRING-3-typed",
  ]) {
    for (let type = 0; type <= 31; type++)
      add(`${from}~type-${type}`, from, (m) => {
        init(m).dataType = type;
      });
    add(`${from}~type-absent`, from, (m) => {
      const t = onnx.TensorProto.toObject(init(m)) as pb.ITensorProto;
      delete t.dataType;
      graphOf(m).initializer = [onnx.TensorProto.fromObject(t)];
    });
  }

  // Names.
  const w = "init-FLOAT-2x3-raw";
  add("name-empty", w, (m) => {
    init(m).name = "";
  });
  add("name-duplicate", w, (m) =>
    graphOf(m).initializer.push(onnx.TensorProto.decode(onnx.TensorProto.encode(init(m)).finish())),
  );
  add("name-same-as-input", w, (m) => {
    init(m).name = "X";
  });
  add("name-same-as-output", w, (m) => {
    init(m).name = "Y";
  });
  add("name-duplicate-sparse", "sparse-linear", (m) => {
    const values = graphOf(m).sparseInitializer[0]?.values;
    graphOf(m).initializer.push(
      onnx.TensorProto.create({ name: values?.name ?? "", dims: [1], dataType: 1, floatData: [1] }),
    );
  });
  add("name-sparse-empty", "sparse-linear", (m) => {
    const values = graphOf(m).sparseInitializer[0]?.values;
    if (values) values.name = "";
  });

  // IR 3: initializers must be graph inputs too.
  add("ir3-not-input", "ir3-input", (m) => void graphOf(m).input.pop());
  add("ir3-raised-to-4", "ir3-input", (m) => {
    m.irVersion = 4;
    graphOf(m).input.pop();
  });

  // External data: locations and fields, as onnx.save writes them and as a hostile file might.
  const ext = "external";
  const location = (value: string) => (m: pb.ModelProto) => {
    for (const t of graphOf(m).initializer)
      for (const kv of t.externalData ?? []) if (kv.key === "location") kv.value = value;
  };
  for (const [label, value] of [
    ["missing-file", "other.bin"],
    ["parent", "../weights.bin"],
    ["absolute", "/etc/passwd"],
    ["dotdot-in-name", "weights..bin"],
    ["empty", ""],
    ["dot-slash", "./weights.bin"],
    ["up-and-back", "sub/../weights.bin"],
    ["backslash-parent", "..\\weights.bin"],
  ] as const) {
    add(`external-${label}`, ext, location(value), { "weights..bin": new Uint8Array(32768) });
  }
  add("external-no-location", ext, (m) => {
    for (const t of graphOf(m).initializer)
      t.externalData = (t.externalData ?? []).filter((kv) => kv.key !== "location");
  });
  add("external-second-location-outside", ext, (m) => {
    for (const t of graphOf(m).initializer)
      t.externalData = [
        ...(t.externalData ?? []),
        onnx.StringStringEntryProto.create({ key: "location", value: "/etc/passwd" }),
      ];
  });
  add("external-key-without-value", ext, (m) => {
    for (const t of graphOf(m).initializer)
      for (const kv of t.externalData ?? [])
        if (kv.key === "location") delete (kv as { value?: string }).value;
  });
  add("external-with-raw-data", ext, (m) => {
    for (const t of graphOf(m).initializer) t.rawData = new Uint8Array(4);
  });
  add("external-location-flag-off", ext, (m) => {
    for (const t of graphOf(m).initializer) t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  });
  add("external-flag-on-inline", w, (m) => {
    init(m).dataLocation = EXTERNAL;
  });
  add("external-in-constant", "constant-FLOAT", (m) => {
    const t = attributeTensor(graphOf(m).node[1]);
    if (!t) return;
    t.floatData = [];
    t.dataLocation = EXTERNAL;
    t.externalData = [onnx.StringStringEntryProto.create({ key: "location", value: "/etc/passwd" })];
  });

  // Sparse initializers.
  const sparse = (from: string, label: string, change: (s: pb.SparseTensorProto) => void) =>
    add(`${from}~${label}`, from, (m) => {
      const s = graphOf(m).sparseInitializer[0];
      if (s) change(s as pb.SparseTensorProto);
    });
  for (const from of ["sparse-linear", "sparse-coo", "sparse-raw-indices"]) {
    const indices = (s: pb.SparseTensorProto) => s.indices as pb.TensorProto;
    const setIndices = (s: pb.SparseTensorProto, values: number[]) => {
      const i = indices(s);
      if (i.rawData?.length) {
        const raw = Buffer.alloc(values.length * 8);
        for (const [k, v] of values.entries()) raw.writeBigInt64LE(BigInt(v), k * 8);
        i.rawData = raw;
      } else i.int64Data = values;
    };
    const read = (s: pb.SparseTensorProto) => {
      const i = indices(s);
      if (i.rawData?.length)
        return Array.from({ length: i.rawData.length / 8 }, (_, k) =>
          Number(Buffer.from(i.rawData).readBigInt64LE(k * 8)),
        );
      return i.int64Data.map(Number);
    };
    sparse(from, "indices-reversed", (s) => setIndices(s, read(s).reverse()));
    sparse(from, "indices-repeated", (s) =>
      setIndices(
        s,
        read(s).map((v, k, a) => (k === a.length - 1 ? (a[0] ?? 0) : v)),
      ),
    );
    sparse(from, "indices-negative", (s) =>
      setIndices(
        s,
        read(s).map((v, k) => (k === 0 ? -1 : v)),
      ),
    );
    sparse(from, "indices-past-end", (s) =>
      setIndices(
        s,
        read(s).map((v, k, a) => (k === a.length - 1 ? 1000 : v)),
      ),
    );
    sparse(from, "indices-dropped", (s) => {
      s.indices = null;
    });
    sparse(from, "indices-int32", (s) => {
      const i = indices(s);
      i.int32Data = read(s);
      i.int64Data = [];
      i.rawData = new Uint8Array(0);
      i.dataType = 6;
    });
    sparse(from, "indices-rank-3", (s) => {
      indices(s).dims = [...indices(s).dims, 1];
    });
    sparse(from, "indices-short", (s) => setIndices(s, read(s).slice(0, -1)));
    sparse(from, "indices-external", (s) => {
      const i = indices(s);
      i.int64Data = [];
      i.rawData = new Uint8Array(0);
      i.dataLocation = EXTERNAL;
      i.externalData = [onnx.StringStringEntryProto.create({ key: "location", value: "model.onnx" })];
    });
    sparse(from, "values-rank-2", (s) => {
      (s.values as pb.TensorProto).dims = [...(s.values?.dims ?? []), 1];
    });
    sparse(from, "values-short", (s) => {
      (s.values as pb.TensorProto).floatData.pop();
    });
    sparse(from, "values-dropped", (s) => {
      s.values = null;
    });
    sparse(from, "dims-empty", (s) => {
      s.dims = [];
    });
    sparse(from, "dims-zero", (s) => {
      s.dims = [0, ...s.dims.slice(1)];
    });
    sparse(from, "dims-negative", (s) => {
      s.dims = [-2, ...s.dims.slice(1)];
    });
    sparse(from, "dims-shrunk", (s) => {
      s.dims = s.dims.map(() => 1);
    });
  }
  add("sparse-empty~values-no-indices", "sparse-empty", (m) => {
    const s = graphOf(m).sparseInitializer[0];
    if (s) s.indices = null;
  });

  // Tensors outside the graph's own initializers.
  for (const from of ["constant-FLOAT", "constant-INT64", "constant-raw"]) {
    for (const [label, change] of tensorMutations()) {
      add(`${from}~${label}`, from, (m) => {
        const t = attributeTensor(graphOf(m).node[1]);
        if (t) change(t);
      });
    }
  }
  const branchInit = (m: pb.ModelProto) => graphOf(m).node[1]?.attribute?.[0]?.g?.initializer ?? [];
  for (const [label, change] of tensorMutations()) {
    add(`if-branch~${label}`, "if-branch", (m) => {
      const t = branchInit(m)[0];
      if (t) change(t);
    });
  }
  add("if-branch~name-empty", "if-branch", (m) => {
    const t = branchInit(m)[0];
    if (t) t.name = "";
  });
  add("if-branch~name-duplicate", "if-branch", (m) => {
    const list = branchInit(m);
    const t = list[0];
    if (t) list.push(onnx.TensorProto.decode(onnx.TensorProto.encode(t).finish()));
  });
  for (const [label, change] of tensorMutations()) {
    add(`function-constant~${label}`, "function-constant", (m) => {
      const t = attributeTensor(m.functions[0]?.node?.[0]);
      if (t) change(t);
    });
  }
  add("function-constant~ir7", "function-constant", (m) => {
    m.irVersion = 7;
    const t = attributeTensor(m.functions[0]?.node?.[0]);
    if (t) t.floatData = [];
  });

  // Single static assignment.
  add("ssa-two-producers", w, (m) =>
    graphOf(m).node.push(onnx.NodeProto.create({ opType: "Relu", input: ["X"], output: ["Y"] })),
  );
  add("ssa-output-is-input", w, (m) =>
    graphOf(m).node.push(onnx.NodeProto.create({ opType: "Relu", input: ["Y"], output: ["X"] })),
  );
  add("ssa-output-is-initializer", w, (m) =>
    graphOf(m).node.push(onnx.NodeProto.create({ opType: "Relu", input: ["Y"], output: ["w"] })),
  );
  add("ssa-input-twice", w, (m) =>
    graphOf(m).input.push(
      onnx.ValueInfoProto.decode(
        onnx.ValueInfoProto.encode(graphOf(m).input[0] as pb.ValueInfoProto).finish(),
      ),
    ),
  );
  add("ssa-input-and-initializer", w, (m) => {
    init(m).name = "X";
  });
  return cases;
}
