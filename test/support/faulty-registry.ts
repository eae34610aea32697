// A real registry (registry.ts) behind a fault proxy (fault-proxy.ts), for the tests of a file or a
// describe block: both start before the first test and stop after the last, whether the tests pass or
// fail, and each test starts with a proxy that forwards everything and has seen nothing. It exists
// because the push-failure, tag-check and auth tests each wrote out this setup and teardown.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";
import { type RegistryAuth, startRegistry, type TestRegistry } from "./registry.js";

export interface RegistryBehindFaultProxy {
  /** The registry itself, for looking behind the proxy's back (skopeo, its storage, session URLs). */
  readonly registry: TestRegistry;
  /** What the code under test is pointed at; its `rule` decides which requests fail. */
  readonly proxy: FaultProxy;
}

/** Registers the hooks that start, reset and stop the pair; read the pair's fields in tests and hooks. */
export function useRegistryBehindFaultProxy(auth?: RegistryAuth): RegistryBehindFaultProxy {
  let registry: TestRegistry | undefined;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    registry = await startRegistry(auth);
    proxy = await startFaultProxy(registry.host);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });
  beforeEach(() => {
    if (!proxy) return;
    proxy.rule = () => undefined;
    proxy.seen.length = 0;
    proxy.faults.length = 0;
  });
  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not started yet (read it in a test or a hook)`);
    return value;
  };
  return {
    get registry() {
      return started(registry, "the registry behind the fault proxy");
    },
    get proxy() {
      return started(proxy, "the fault proxy");
    },
  };
}
