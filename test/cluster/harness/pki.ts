// Certificates and keys for one test cluster, made with openssl: a CA, serving certificates for
// kube-apiserver and for kwok (which plays every node's kubelet, so logs and port-forward go
// through TLS as they would to a real kubelet), an admin client certificate in system:masters, the aggregation layer's proxy client,
// and the service-account signing key pair. ECDSA P-256 throughout: fast to generate, and
// accepted by every component.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  kwokCert: string;
  kwokKey: string;
  adminCert: string;
  adminKey: string;
  frontProxyCert: string;
  frontProxyKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

interface CertSpec {
  name: string;
  cn: string;
  org?: string;
  usage: "server" | "client";
  altNames?: string[];
}

/** An openssl config naming exactly the extensions wanted, so the machine's openssl.cnf adds none. */
function config(cn: string, org: string | undefined, extensions: string[]): string {
  return [
    "[req]",
    "prompt = no",
    "distinguished_name = dn",
    "[dn]",
    ...(org ? [`O = ${org}`] : []),
    `CN = ${cn}`,
    "[ext]",
    ...extensions,
    "",
  ].join("\n");
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
const DAYS = ["-days", "3650"];

async function makeCert(pki: Pki, spec: CertSpec): Promise<void> {
  const cnf = join(pki.dir, `${spec.name}.cnf`);
  const extensions = [
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature, keyEncipherment",
    `extendedKeyUsage = ${spec.usage === "server" ? "serverAuth" : "clientAuth"}`,
    ...(spec.altNames ? [`subjectAltName = ${spec.altNames.join(", ")}`] : []),
  ];
  await writeFile(cnf, config(spec.cn, spec.org, extensions));
  await run("openssl", [
    "req",
    "-x509",
    "-new",
    ...EC,
    "-config",
    cnf,
    "-extensions",
    "ext",
    "-CA",
    pki.caCert,
    "-CAkey",
    pki.caKey,
    ...DAYS,
    "-keyout",
    join(pki.dir, `${spec.name}.key`),
    "-out",
    join(pki.dir, `${spec.name}.crt`),
  ]);
}

export async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(dir, name);
  const pki: Pki = {
    dir,
    caCert: file("ca.crt"),
    caKey: file("ca.key"),
    apiserverCert: file("apiserver.crt"),
    apiserverKey: file("apiserver.key"),
    kwokCert: file("kwok.crt"),
    kwokKey: file("kwok.key"),
    adminCert: file("admin.crt"),
    adminKey: file("admin.key"),
    frontProxyCert: file("front-proxy-client.crt"),
    frontProxyKey: file("front-proxy-client.key"),
    serviceAccountKey: file("sa.key"),
    serviceAccountPub: file("sa.pub"),
  };
  await writeFile(
    file("ca.cnf"),
    config("modelship-test-ca", undefined, [
      "basicConstraints = critical, CA:TRUE",
      "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
    ]),
  );
  const ca = run("openssl", [
    "req",
    "-x509",
    "-new",
    ...EC,
    "-config",
    file("ca.cnf"),
    "-extensions",
    "ext",
    ...DAYS,
    "-keyout",
    pki.caKey,
    "-out",
    pki.caCert,
  ]);
  const serviceAccount = run("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    pki.serviceAccountKey,
  ]).then(() =>
    run("openssl", ["pkey", "-in", pki.serviceAccountKey, "-pubout", "-out", pki.serviceAccountPub]),
  );
  await ca;
  const local = ["IP:127.0.0.1", "DNS:localhost"];
  await Promise.all([
    serviceAccount,
    makeCert(pki, {
      name: "apiserver",
      cn: "kube-apiserver",
      usage: "server",
      // The in-cluster names and the first service IP, as a real API server's certificate has.
      altNames: [
        ...local,
        "IP:10.96.0.1",
        "DNS:kubernetes",
        "DNS:kubernetes.default",
        "DNS:kubernetes.default.svc",
        "DNS:kubernetes.default.svc.cluster.local",
      ],
    }),
    makeCert(pki, { name: "kwok", cn: "kwok", usage: "server", altNames: local }),
    makeCert(pki, { name: "admin", cn: "admin", org: "system:masters", usage: "client" }),
    makeCert(pki, { name: "front-proxy-client", cn: "front-proxy-client", usage: "client" }),
  ]);
  return pki;
}
