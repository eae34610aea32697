// Optimistic concurrency as the deploy lock (a Lease) and the ledger (a ConfigMap) will rely on it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiRequest, createNamespace, deleteNamespace } from "../support/cluster.js";

let ns: string;
beforeAll(async () => {
  ns = await createNamespace("concurrency");
});
afterAll(async () => {
  await deleteNamespace(ns);
});

describe("optimistic concurrency", () => {
  it("of clients racing to create the same Lease, exactly one wins; the others get 409 AlreadyExists", async () => {
    const lease = (holder: string) => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "modelship-deploy", namespace: ns },
      spec: { holderIdentity: holder, leaseDurationSeconds: 30 },
    });
    const holders = ["job-a", "job-b", "job-c", "job-d"];
    const answers = await Promise.all(
      holders.map((holder) =>
        apiRequest("POST", `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, lease(holder)),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(holders.length - 1);
    for (const lost of answers.filter((a) => a.status === 409)) {
      expect(lost.body).toMatchObject({ kind: "Status", reason: "AlreadyExists" });
    }
    const winner = holders[statuses.indexOf(201)];
    const stored = await apiRequest(
      "GET",
      `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/modelship-deploy`,
    );
    expect(stored.body).toMatchObject({ spec: { holderIdentity: winner } });
  });

  it("refuses a ConfigMap update carrying a stale resourceVersion with 409 Conflict", async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const created = await apiRequest("POST", path, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ledger" },
      data: { revision: "1" },
    });
    expect(created.status).toBe(201);
    const first = created.body as { metadata: { resourceVersion: string } };

    const fresh = await apiRequest("PUT", `${path}/ledger`, { ...first, data: { revision: "2" } });
    expect(fresh.status).toBe(200);

    // Same resourceVersion as the first write read: someone else has written since.
    const stale = await apiRequest("PUT", `${path}/ledger`, {
      ...first,
      data: { revision: "2-from-a-stale-reader" },
    });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: "Status", reason: "Conflict" });
    const stored = await apiRequest("GET", `${path}/ledger`);
    expect(stored.body).toMatchObject({ data: { revision: "2" } });
  });
});
