/** openssl-made certificates for the certificate store tests (a throwaway CA per call site). */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../src/exec/run";

export interface TestCa {
  certPem: string;
  keyFile: string;
  certFile: string;
}

export interface TestLeaf {
  certPem: string;
  keyPem: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

export async function makeCa(dir: string, name = "ca"): Promise<TestCa> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.pem`);
  await run({
    argv: [
      "openssl",
      "req",
      "-x509",
      ...EC,
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "30",
      "-subj",
      `/CN=odooops test ${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
  });
  return { certPem: readFileSync(certFile, "utf8"), keyFile, certFile };
}

/** A leaf for `sans` (DNS names) signed by `ca`, valid `days` from now. */
export async function makeLeaf(dir: string, ca: TestCa, sans: string[], days = 20, name = "leaf"): Promise<TestLeaf> {
  const f = (ext: string) => join(dir, `${name}.${ext}`);
  await run({ argv: ["openssl", "req", ...EC, "-keyout", f("key"), "-out", f("csr"), "-subj", `/CN=${sans[0]}`] });
  writeFileSync(
    f("ext"),
    `subjectAltName=${sans.map((s) => `DNS:${s}`).join(",")}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await run({
    argv: [
      "openssl",
      "x509",
      "-req",
      "-in",
      f("csr"),
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-CAcreateserial",
      "-out",
      f("pem"),
      "-days",
      String(days),
      "-extfile",
      f("ext"),
    ],
  });
  return { certPem: readFileSync(f("pem"), "utf8"), keyPem: readFileSync(f("key"), "utf8") };
}
