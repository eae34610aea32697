// The policy's families, each checked whole: globals that switch scanners off, stdlib helpers that run
// commands, builtins that are pure functions (safe, so allowGlobals is never needed for them), builtins
// that call or compute without bound (dangerous), and Python 2 names Python 3 maps before importing.
import { describe, expect, it } from "vitest";
import { judgeGlobal } from "../../src/model/pickle-policy.js";

describe("globals that switch other scanners off are dangerous", () => {
  it.each([
    ["fickling.hook", "remove_hook"],
    ["fickling.hook", "deactivate_safe_ml_environment"],
    ["fickling", "some_func"],
    ["picklescan.scanner", "scan_pickle_bytes"],
    ["modelscan.modelscan", "ModelScan"],
    ["modelaudit", "some_func"],
    ["model_unpickler", "some_func"],
    ["saferpickle", "some_func"],
    ["torch._weights_only_unpickler", "_add_safe_globals"],
    ["torch.serialization", "add_safe_globals"],
  ])("%s.%s", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });
});

describe("stdlib helpers that run commands are dangerous", () => {
  it.each([
    ["uuid", "_get_command_stdout"],
    ["uuid", "_popen"],
    ["uuid", "getnode"],
    ["uuid", "_ifconfig_getnode"],
    ["uuid", "_find_mac_near_keyword"],
    ["platform", "_syscmd_ver"],
    ["ctypes.util", "find_library"],
    ["_osx_support", "_read_output"],
    ["imaplib", "IMAP4_stream"],
    ["getpass", "getpass"],
    ["weakref", "finalize"],
    ["sched", "scheduler"],
    ["itertools", "starmap"],
    ["torch.compile", "dangerous"],
  ])("%s.%s", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });

  it("a UUID itself is data", () => {
    expect(judgeGlobal("uuid", "UUID").verdict).toBe("safe");
  });
});

describe("harmless builtins are safe, so allowGlobals never has to admit them", () => {
  it.each([
    ["builtins", "len"],
    ["builtins", "abs"],
    ["builtins", "min"],
    ["builtins", "max"],
    ["builtins", "sorted"],
    ["builtins", "reversed"],
    ["builtins", "enumerate"],
    ["builtins", "zip"],
    ["builtins", "repr"],
    ["builtins", "hex"],
    ["builtins", "chr"],
    // Bounded by the size of what the file holds, never by the value of a small argument.
    ["builtins", "divmod"],
    ["builtins", "bin"],
    ["builtins", "oct"],
    ["builtins", "isinstance"],
    ["builtins", "ValueError"],
    ["exceptions", "StandardError"],
    ["__builtin__", "xrange"],
    ["__builtin__", "unicode"],
    ["__builtin__", "long"],
    ["__future__", "annotations"],
    ["__future__", "division"],
    ["collections.abc", "Iterable"],
  ])("%s.%s", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("safe");
  });

  it.each([
    ["builtins", "pow", "any size"],
    // round(1, -10**9) computes 10**(10**9); format(0, "1500000000") pads to 1.5 GB: tiny arguments, unbounded work.
    ["builtins", "round", "10**n"],
    ["builtins", "format", "width"],
    ["builtins", "sum", "copies"],
    ["builtins", "map", "calls"],
    ["builtins", "filter", "calls"],
    ["builtins", "iter", "calls"],
    ["__future__", "_ssl.RAND_bytes", ""],
    ["__builtin__", "reduce", ""],
    ["__builtin__", "intern", ""],
  ])("but %s.%s is not", (module, name, why) => {
    const verdict = judgeGlobal(module, name);
    expect(verdict.verdict).toBe("dangerous");
    expect(verdict.why).toContain(why);
  });

  it("allowGlobals still cannot admit what is dangerous", () => {
    expect(judgeGlobal("uuid", "_get_command_stdout", ["uuid._get_command_stdout"]).verdict).toBe(
      "dangerous",
    );
  });
});
