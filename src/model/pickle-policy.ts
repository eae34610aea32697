// Which globals a pickle may import. Three answers: dangerous (code execution, file or network access,
// nested loaders) → always rejected; safe (what plain PyTorch, NumPy and scikit-learn checkpoints need)
// → accepted; anything else → unknown, a warning, or rejected under a strict policy.
export type GlobalVerdict = "dangerous" | "safe" | "unknown";

// Python 2 names that Python 3's unpickler maps (fix_imports) before importing.
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  cPickle: "pickle",
  commands: "subprocess",
  exceptions: "builtins",
};

/** Modules where every name is dangerous (the module itself, or any submodule). */
const DANGEROUS_MODULES = [
  "os",
  "posix",
  "nt",
  "posixpath",
  "ntpath",
  "subprocess",
  "sys",
  "socket",
  "shutil",
  "runpy",
  "importlib",
  "pty",
  "webbrowser",
  "pickle",
  "_pickle",
  "marshal",
  "shelve",
  "dill",
  "cloudpickle",
  "ctypes",
  "multiprocessing",
  "asyncio",
  "code",
  "codeop",
  "pdb",
  "bdb",
  "timeit",
  "platform",
  "signal",
  "urllib",
  "urllib2",
  "http",
  "httplib",
  "ftplib",
  "telnetlib",
  "smtplib",
  "requests",
  "aiohttp",
  "tempfile",
  "glob",
  "io",
  "_io",
  "pathlib",
  "zipimport",
  "pkgutil",
  "imp",
  "threading",
  "_thread",
  "operator",
  "types",
  "inspect",
  "gc",
  "ssl",
  "select",
  "fcntl",
  "resource",
  "mmap",
  "torch.hub",
  "torch.utils.cpp_extension",
  "torch.jit",
  "torch._C._jit",
  "torch.package",
  "numpy.testing",
  "numpy.f2py",
  "numpy.distutils",
  "distutils",
  "setuptools",
  "pip",
  "joblib.externals",
  "_posixsubprocess",
  "nturl2path",
  "xmlrpc",
  "venv",
  "ensurepip",
  "site",
  "sysconfig",
  "trace",
];

/** name → dangerous, per module, where only some names of the module are. */
const DANGEROUS_NAMES: Record<string, string[]> = {
  builtins: [
    "eval",
    "exec",
    "execfile",
    "compile",
    "getattr",
    "setattr",
    "delattr",
    "__import__",
    "open",
    "file",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "input",
    "raw_input",
    "reload",
    "apply",
    "memoryview",
    "help",
    "exit",
    "quit",
    "dir",
    "type",
    "super",
    "object.__subclasses__",
  ],
  numpy: ["load", "loads", "fromfile", "save", "savez", "tofile", "memmap"],
  "numpy.lib.npyio": ["load", "loads"],
  "numpy.lib.format": ["read_array", "open_memmap"],
  torch: ["load", "save", "from_file"],
  "torch.serialization": ["load", "_load", "save"],
  "torch.storage": ["_load_from_bytes"],
  joblib: ["load"],
  "joblib.numpy_pickle": ["load"],
  pandas: ["read_pickle", "eval"],
  "pandas.io.pickle": ["read_pickle"],
  copyreg: ["add_extension"],
};

const SAFE: Record<string, string[]> = {
  builtins: [
    "object",
    "dict",
    "list",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "complex",
    "bool",
    "str",
    "bytes",
    "bytearray",
    "slice",
    "range",
    "Ellipsis",
    "NotImplemented",
    "True",
    "False",
    "None",
  ],
  collections: ["OrderedDict", "defaultdict", "Counter", "deque", "namedtuple"],
  copyreg: ["_reconstructor", "__newobj__", "__newobj_ex__"],
  _codecs: ["encode"],
  datetime: ["datetime", "date", "time", "timedelta", "timezone"],
  decimal: ["Decimal"],
  fractions: ["Fraction"],
  torch: [
    "Size",
    "device",
    "dtype",
    "Tensor",
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
    "QInt8Storage",
    "QUInt8Storage",
    "QInt32Storage",
    "QUInt4x2Storage",
    "QUInt2x4Storage",
    "UntypedStorage",
    "TypedStorage",
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
    "complex64",
    "complex128",
    "float",
    "double",
    "half",
    "long",
    "int",
    "short",
    "qint8",
    "quint8",
    "qint32",
    "float8_e4m3fn",
    "float8_e5m2",
    "strided",
    "sparse_coo",
    "sparse_csr",
    "per_tensor_affine",
    "per_channel_affine",
    "contiguous_format",
    "channels_last",
    "preserve_format",
  ],
  "torch._utils": [
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_nested_tensor",
    "_rebuild_wrapper_subclass",
  ],
  "torch._tensor": ["_rebuild_from_type_v2", "Tensor"],
  "torch.nn.parameter": ["Parameter", "Buffer", "UninitializedParameter"],
  "torch.storage": ["TypedStorage", "UntypedStorage", "_StorageBase"],
  "torch.serialization": ["_get_layout"],
  "torch.cuda": [
    "FloatStorage",
    "HalfStorage",
    "DoubleStorage",
    "LongStorage",
    "IntStorage",
    "ByteStorage",
    "BoolStorage",
    "BFloat16Storage",
  ],
  numpy: [
    "ndarray",
    "dtype",
    "float32",
    "float64",
    "float16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool_",
    "core",
  ],
  "numpy.core.multiarray": ["_reconstruct", "scalar"],
  "numpy._core.multiarray": ["_reconstruct", "scalar"],
  "numpy.dtypes": ["Float32DType", "Float64DType", "Int64DType", "Int32DType", "UInt8DType", "BoolDType"],
  "numpy.random._pickle": ["__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"],
  "numpy.random": ["__RandomState_ctor"],
  "numpy.ma.core": ["_mareconstruct"],
};

/**
 * Module prefixes whose classes (a plain CapitalisedName, no attribute chain) are safe to import: these
 * libraries' model classes are rebuilt with __new__ + __setstate__, which runs no user code.
 */
const SAFE_CLASS_PREFIXES = ["torch.nn.modules.", "sklearn.", "xgboost.", "lightgbm.", "scipy.sparse."];

function inModule(module: string, prefix: string): boolean {
  return module === prefix || module.startsWith(`${prefix}.`);
}

export function normaliseGlobal(module: string, name: string): { module: string; name: string } {
  return { module: PY2_MODULES[module] ?? module, name };
}

/** `allow` lists "module.name" entries the user has reviewed (config validation.allowGlobals). */
export function judgeGlobal(
  rawModule: string,
  rawName: string,
  allow: readonly string[] = [],
): { verdict: GlobalVerdict; why: string } {
  const { module, name } = normaliseGlobal(rawModule, rawName);
  // Attribute chains reach anything: numpy.x.__globals__ → os. Dunder attributes are never needed.
  const parts = name.split(".");
  if (parts.some((p) => /^__.+__$/.test(p)) && !(SAFE[module]?.includes(name) ?? false)) {
    return {
      verdict: "dangerous",
      why: "reaches a dunder attribute, a known way to escape to os or builtins",
    };
  }
  if (/[\s\0]/.test(module) || /[\s\0]/.test(name) || module === "" || name === "") {
    return { verdict: "dangerous", why: "is not a valid Python name" };
  }
  const dangerousModule = DANGEROUS_MODULES.find((m) => inModule(module, m));
  if (dangerousModule)
    return { verdict: "dangerous", why: `module ${dangerousModule} can run commands or touch files` };
  for (const [m, names] of Object.entries(DANGEROUS_NAMES)) {
    if (module === m && (names.includes(name) || names.includes(parts[0] as string))) {
      return { verdict: "dangerous", why: `${m}.${name} can run code, read files or load another pickle` };
    }
  }
  if (module === "builtins" && parts.length > 1) {
    return { verdict: "dangerous", why: "an attribute chain on a builtin can reach arbitrary code" };
  }
  if (allow.includes(`${module}.${name}`) || allow.includes(`${rawModule}.${rawName}`)) {
    return { verdict: "safe", why: "allowed by validation.allowGlobals" };
  }
  if (SAFE[module]?.includes(name)) return { verdict: "safe", why: "needed by plain checkpoints" };
  if (
    parts.length === 1 &&
    /^[A-Z][A-Za-z0-9_]*$/.test(name) &&
    SAFE_CLASS_PREFIXES.some((p) => module.startsWith(p))
  ) {
    return { verdict: "safe", why: "a model class rebuilt without running code" };
  }
  return { verdict: "unknown", why: "not on the known-safe list" };
}
