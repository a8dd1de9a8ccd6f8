/**
 * State for certificate tests without a host: env rows as env create leaves them (active, with
 * published ports) and certificates in the store made with a throwaway CA.
 */
import { eq } from "drizzle-orm";
import type { SecretBox } from "../../src/auth/secretbox";
import { saveCertificate, type CertSource, type StoredCertificate } from "../../src/certs";
import type { Config } from "../../src/config/schema";
import { insertEnvironment, planCreate } from "../../src/env/create";
import { environments, type Environment } from "../../src/env/env.sql";
import type { Db } from "../../src/state/db";
import { makeLeaf, type TestCa } from "./fixtures";

let port = 40000 + 2 * Math.floor(Math.random() * 5000);

export function activeEnv(
  deps: { db: Db; config: Config; box: SecretBox },
  req: { name: string; tier: Environment["tier"]; status?: Environment["status"] },
): Environment {
  // A host large enough for every tier: these rows never run a container.
  const plan = planCreate(deps.db, deps.config, { name: req.name, tier: req.tier }, { cpus: 64, memoryMb: 1_048_576 });
  const env = insertEnvironment(deps.db, deps.box, plan, "test");
  port += 2;
  return deps.db
    .update(environments)
    .set({ status: req.status ?? "active", httpPort: port, longpollPort: port + 1, containerName: `test-${env.slug}` })
    .where(eq(environments.id, env.id))
    .returning()
    .get();
}

/** A certificate for `domain` valid for `days` more days, stored as `source`. */
export async function storeCert(
  dir: string,
  certsDir: string,
  ca: TestCa,
  domain: string,
  days: number,
  source: CertSource,
): Promise<StoredCertificate> {
  const leaf = await makeLeaf(dir, ca, [domain], days, domain);
  return saveCertificate(certsDir, domain, {
    fullchainPem: leaf.certPem,
    privkeyPem: leaf.keyPem,
    source,
    ...(source === "acme" ? { directoryUrl: "https://acme.invalid/dir" } : {}),
  });
}
