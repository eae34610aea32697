// Which globals a pickle may import. Three answers: dangerous (code execution, file or network access,
// nested loaders) → always rejected; safe (what plain PyTorch, NumPy and scikit-learn checkpoints need)
// → accepted; anything else → unknown, a warning, or rejected under a strict policy.
export type GlobalVerdict = "dangerous" | "safe" | "unknown";

// Python 2 module names that Python 3's unpickler maps (fix_imports, protocols 0-2) before importing. Mapped
// whatever the protocol: a name Python 3 would not map fails to import, so mapping it too is only stricter.
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  exceptions: "builtins",
  copy_reg: "copyreg",
  cPickle: "pickle",
  commands: "subprocess",
  thread: "_thread",
  dummy_thread: "_dummy_thread",
  cStringIO: "io",
  StringIO: "io",
  urllib2: "urllib.request",
  urlparse: "urllib.parse",
  robotparser: "urllib.robotparser",
  httplib: "http.client",
  BaseHTTPServer: "http.server",
  SimpleHTTPServer: "http.server",
  CGIHTTPServer: "http.server",
  Cookie: "http.cookies",
  cookielib: "http.cookiejar",
  SocketServer: "socketserver",
  xmlrpclib: "xmlrpc.client",
  SimpleXMLRPCServer: "xmlrpc.server",
  DocXMLRPCServer: "xmlrpc.server",
  anydbm: "dbm",
  whichdb: "dbm",
  dumbdbm: "dbm.dumb",
  dbhash: "dbm.bsd",
  gdbm: "dbm.gnu",
  UserDict: "collections",
  UserList: "collections",
  UserString: "collections",
  Queue: "queue",
  ConfigParser: "configparser",
  repr: "reprlib",
  _winreg: "winreg",
};

// Names Python 3's unpickler maps as a pair (_compat_pickle.NAME_MAPPING) before the module map: a protocol
// 0-2 pickle of range(3) imports __builtin__.xrange, which is builtins.range.
const PY2_NAMES: Record<string, [string, string]> = {
  "__builtin__.xrange": ["builtins", "range"],
  "__builtin__.unicode": ["builtins", "str"],
  "__builtin__.basestring": ["builtins", "str"],
  "__builtin__.long": ["builtins", "int"],
  "__builtin__.unichr": ["builtins", "chr"],
  "__builtin__.intern": ["sys", "intern"],
  "__builtin__.reduce": ["functools", "reduce"],
  "exceptions.StandardError": ["builtins", "Exception"],
  "itertools.izip": ["builtins", "zip"],
  "itertools.imap": ["builtins", "map"],
  "itertools.ifilter": ["builtins", "filter"],
  "itertools.ifilterfalse": ["itertools", "filterfalse"],
  "itertools.izip_longest": ["itertools", "zip_longest"],
  "UserDict.IterableUserDict": ["collections", "UserDict"],
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
  // Found missing by the bypass review (picklescan/modelscan advisories, fickling's UNSAFE_IMPORTS):
  // profilers, debuggers and doc tools that run code or import by name.
  "cProfile",
  "profile",
  "pydoc",
  "doctest",
  "idlelib",
  "lib2to3",
  "unittest",
  "test",
  // Call helpers: bind arguments (even keyword ones) to a callable that a later REDUCE runs.
  "functools",
  "atexit",
  // Mail, network and shell helpers that spawn commands or open connections.
  "imaplib",
  "poplib",
  "nntplib",
  "mailcap",
  "pipes",
  "pexpect",
  "socketserver",
  "selectors",
  "concurrent",
  "logging",
  // Files and databases: read, write or extract on the loading host.
  "tarfile",
  "zipfile",
  "fileinput",
  "linecache",
  "filecmp",
  "compileall",
  "py_compile",
  "sqlite3",
  "dbm",
  "cffi",
  // Other deserialisers (a second payload the walker cannot see).
  "yaml",
  "jsonpickle",
  "numpy.ctypeslib",
  "pandas.io",
  "pandas.core.computation",
  // torch subsystems that compile, trace, run guards, load libraries or talk to other processes. Plain
  // checkpoints use none of them; the storage and rebuild helpers they do use are listed under SAFE.
  "torch._C",
  "torch._dynamo",
  "torch._inductor",
  "torch._export",
  "torch._functorch",
  "torch.export",
  "torch.compiler",
  "torch.fx",
  "torch.utils",
  "torch.ops",
  "torch.classes",
  "torch.library",
  "torch.multiprocessing",
  "torch.distributed",
  "torch.testing",
  "torch.onnx",
  "torch.compile",
  // Scanners and guards a pickle has no business importing: it only does so to switch them off (fickling's
  // remove_hook, a patched picklescan) before what follows is judged, or to weaken torch's weights_only mode.
  "fickling",
  "picklescan",
  "modelscan",
  "modelaudit",
  "model_unpickler",
  "saferpickle",
  "torch._weights_only_unpickler",
  // More stdlib that writes files, blocks on a terminal, serves sockets or runs callables later.
  "winreg",
  "syslog",
  "readline",
  "getpass",
  "wsgiref",
  "smtpd",
  "asynchat",
  "asyncore",
  "modulefinder",
  "sched",
  "weakref",
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
  // Call helpers: each calls a value it is handed, which may be another call's result.
  itertools: ["starmap", "accumulate", "filterfalse", "takewhile", "dropwhile", "groupby"],
  "pandas.io.pickle": ["read_pickle"],
};

/**
 * Modules a checkpoint only ever needs a few names from: anything in them that is not on the SAFE list is
 * dangerous rather than unknown (builtins.iter calls a callable, copyreg.pickle rewires pickling,
 * torch._utils._import_dotted_name imports any module by name).
 */
const CLOSED_MODULES = [
  "builtins",
  "copyreg",
  "_codecs",
  "torch._utils",
  "torch._tensor",
  "torch.serialization",
  "torch.storage",
  "numpy.core.multiarray",
  "numpy._core.multiarray",
  // uuid finds the MAC address by running ifconfig, ip, arp, netstat (_get_command_stdout, getnode): only the
  // UUID class itself is data.
  "uuid",
  "__future__",
];

/** Why some closed-module names are refused, where "may run code" would be wrong. */
const REASONS: Record<string, string> = {
  "builtins.pow": "computes numbers of any size (pow(10, 10**10) runs for minutes and takes gigabytes)",
  "builtins.round":
    "computes numbers of any size (round(1, -10**9) computes 10**n for n = 10**9, for hours and gigabytes)",
  "builtins.format":
    "pads to any width a short spec asks for (format(0, '1500000000') allocates 1.5 GB; a huge precision too)",
  "builtins.sum":
    "concatenates what it is given, turning shared references into copies (exponential with nesting)",
  "builtins.map":
    "calls whatever value it is handed, another call's result included, out of this check's sight",
  "builtins.filter":
    "calls whatever value it is handed, another call's result included, out of this check's sight",
  "builtins.iter": "calls whatever value it is handed until a sentinel, out of this check's sight",
};

/**
 * Final attribute names that load, import, evaluate or execute, wherever they live: a block list of modules
 * never ends, but the verbs do repeat (numpy.lib._npyio_impl.load, yaml.unsafe_load, X.system via an
 * alias). No known-safe global ends in one of these.
 */
const DANGEROUS_LEAVES = new Set([
  "eval",
  "exec",
  "execfile",
  "compile",
  "system",
  "popen",
  "Popen",
  "spawn",
  "startfile",
  "call",
  "check_call",
  "check_output",
  "getoutput",
  "getstatusoutput",
  "run",
  "runcode",
  "runsource",
  "runctx",
  "run_path",
  "run_module",
  "load",
  "loads",
  "unsafe_load",
  "full_load",
  "load_all",
  "load_library",
  "load_source",
  "load_module",
  "load_dynamic",
  "load_inline",
  "load_model",
  "read_pickle",
  "import_module",
  "locate",
  "resolve_name",
  "attrgetter",
  "methodcaller",
  "getattr",
  "setattr",
  "delattr",
  "open",
  "breakpoint",
  "set_trace",
  "post_mortem",
]);

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
    // Pure functions whose work is bounded by the size of their arguments, which the file holds (fickling's
    // SAFE_BUILTINS less pow, round, format, sum, map, filter and iter: see REASONS).
    "len",
    "abs",
    "divmod",
    "min",
    "max",
    "all",
    "any",
    "sorted",
    "reversed",
    "enumerate",
    "zip",
    "next",
    "hash",
    "id",
    "repr",
    "ascii",
    "bin",
    "hex",
    "oct",
    "ord",
    "chr",
    "isinstance",
    "issubclass",
    "callable",
  ],
  __future__: [
    "all_feature_names",
    "nested_scopes",
    "generators",
    "division",
    "absolute_import",
    "with_statement",
    "print_function",
    "unicode_literals",
    "barry_as_FLUFL",
    "generator_stop",
    "annotations",
  ],
  "collections.abc": [
    "Awaitable",
    "Coroutine",
    "AsyncIterable",
    "AsyncIterator",
    "AsyncGenerator",
    "Hashable",
    "Iterable",
    "Iterator",
    "Generator",
    "Reversible",
    "Sized",
    "Container",
    "Callable",
    "Collection",
    "Set",
    "MutableSet",
    "Mapping",
    "MutableMapping",
    "MappingView",
    "KeysView",
    "ItemsView",
    "ValuesView",
    "Sequence",
    "MutableSequence",
    "ByteString",
    "Buffer",
  ],
  uuid: ["UUID", "SafeUUID"],
  // Not namedtuple: a class factory no checkpoint references by name.
  collections: ["OrderedDict", "defaultdict", "Counter", "deque"],
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
    "_rebuild_xla_tensor",
    "_rebuild_mps_tensor",
    "_rebuild_sparse_csr_tensor",
    "_rebuild_device_tensor_from_cpu_tensor",
  ],
  "torch._tensor": ["_rebuild_from_type", "_rebuild_from_type_v2", "Tensor"],
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
  // Protocol 5 arrays: rebuilt from an (out-of-band or inline) buffer, dtype and shape.
  "numpy.core.numeric": ["_frombuffer"],
  "numpy._core.numeric": ["_frombuffer"],
  "numpy.dtypes": ["Float32DType", "Float64DType", "Int64DType", "Int32DType", "UInt8DType", "BoolDType"],
  "numpy.random._pickle": ["__randomstate_ctor", "__generator_ctor", "__bit_generator_ctor"],
  "numpy.random": ["__RandomState_ctor"],
  "numpy.ma.core": ["_mareconstruct"],
  // joblib.dump's stand-in for a numpy array: rebuilt with __new__ + a plain state dict, then replaced by the
  // array joblib reads (the walker checks that layout). The vendored sklearn copy is safe by prefix already.
  "joblib.numpy_pickle": ["NumpyArrayWrapper"],
};

/**
 * Module prefixes whose classes (a plain CapitalisedName, no attribute chain) are safe to import: these
 * libraries' model classes are rebuilt with __new__ + __setstate__, which runs no user code.
 */
const SAFE_CLASS_PREFIXES = ["torch.nn.modules.", "sklearn.", "xgboost.", "lightgbm.", "scipy.sparse."];

function inModule(module: string, prefix: string): boolean {
  return module === prefix || module.startsWith(`${prefix}.`);
}

// A Python identifier (PEP 3131 start and continue classes, without NFKC: import does not normalise).
const IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

// Names that, as an attribute of some other module, are that module's own `import os` / `import sys as _sys`.
const ALIASED_MODULES = new Set([
  "builtins",
  ...DANGEROUS_MODULES.filter((m) => !m.includes(".")).map((m) => m.replace(/^_+/, "")),
]);

export function normaliseGlobal(module: string, name: string): { module: string; name: string } {
  const pair = PY2_NAMES[`${module}.${name}`];
  if (pair) return { module: pair[0], name: pair[1] };
  return { module: PY2_MODULES[module] ?? module, name };
}

// Exception classes: data with a message, whatever their name (builtins has no other names of this shape).
const BUILTIN_EXCEPTION =
  /^((?=[A-Z])[A-Za-z]*(Error|Exception|Warning)|StopIteration|StopAsyncIteration|GeneratorExit|KeyboardInterrupt|SystemExit)$/;

function listedSafe(module: string, name: string): boolean {
  if (SAFE[module]?.includes(name)) return true;
  return module === "builtins" && BUILTIN_EXCEPTION.test(name);
}

const danger = (why: string) => ({ verdict: "dangerous" as const, why });

/** The verdict before the user's allow list and the safe list are consulted; undefined when not dangerous. */
function dangerOf(module: string, name: string): { verdict: "dangerous"; why: string } | undefined {
  const parts = name.split(".");
  const moduleParts = module.split(".");
  if (![...moduleParts, ...parts].every((p) => IDENTIFIER.test(p))) {
    return danger("is not a valid Python name, so it was built to confuse a scanner");
  }
  const safe = listedSafe(module, name);
  const reason = REASONS[`${module}.${name}`];
  if (reason) return danger(reason);
  // Attribute chains reach anything: numpy.x.__globals__ → os. Dunder attributes are never needed.
  if (parts.some((p) => /^__.+__$/.test(p)) && !safe) {
    return danger("reaches a dunder attribute, a known way to escape to os or builtins");
  }
  const top = moduleParts[0] as string;
  if (top.startsWith("_") && top !== "__main__" && !safe) {
    return danger(`lives in the private module ${top}, which no checkpoint needs (_operator, _ctypes, …)`);
  }
  // Protocol 4 resolves a dotted name attribute by attribute, so torch + "hub.load" is torch.hub.load:
  // judge the whole path, not just the module the pickle names.
  const path = `${module}.${name}`;
  const dangerousModule = DANGEROUS_MODULES.find((m) => inModule(module, m) || inModule(path, m));
  if (dangerousModule)
    return danger(`is in module ${dangerousModule}, which can run commands or touch files`);
  for (const [m, names] of Object.entries(DANGEROUS_NAMES)) {
    const hit = names.find((n) => inModule(path, `${m}.${n}`));
    if (hit) return danger(`reaches ${m}.${hit}, which can run code, read files or load another pickle`);
  }
  for (const closed of CLOSED_MODULES) {
    if (!path.startsWith(`${closed}.`)) continue;
    const rest = path.slice(closed.length + 1);
    if (!listedSafe(closed, rest)) {
      return danger(`is not one of the few names checkpoints use from ${closed}, and may run code`);
    }
  }
  if (parts.length > 1) {
    const alias = parts.find((p) => ALIASED_MODULES.has(p.replace(/^_+/, "")));
    if (alias)
      return danger(`goes through attribute ${alias}, another module's handle on a dangerous module`);
  }
  const leaf = parts[parts.length - 1] as string;
  if (DANGEROUS_LEAVES.has(leaf)) {
    return danger(`is named ${leaf}: it loads, imports or executes whatever it is given`);
  }
  return undefined;
}

/** `allow` lists "module.name" entries the user has reviewed (config validation.allowGlobals). */
export function judgeGlobal(
  rawModule: string,
  rawName: string,
  allow: readonly string[] = [],
): { verdict: GlobalVerdict; why: string } {
  const { module, name } = normaliseGlobal(rawModule, rawName);
  const dangerous = dangerOf(module, name);
  if (dangerous) return dangerous;
  if (allow.includes(`${module}.${name}`) || allow.includes(`${rawModule}.${rawName}`)) {
    return { verdict: "safe", why: "allowed by validation.allowGlobals" };
  }
  if (listedSafe(module, name)) return { verdict: "safe", why: "needed by plain checkpoints" };
  if (
    !name.includes(".") &&
    /^[A-Z][A-Za-z0-9_]*$/.test(name) &&
    SAFE_CLASS_PREFIXES.some((p) => module.startsWith(p))
  ) {
    return { verdict: "safe", why: "a model class rebuilt without running code" };
  }
  return { verdict: "unknown", why: "not on the known-safe list" };
}
