/**
 * The ACME account: one key per directory URL under `<certsDir>/_acme/<host>-<hash>/`
 * (account.key 0600 + account.json with the account URL). The key is created at most once even
 * with concurrent processes (link(2) of a finished temp file fails if another one won).
 */
import { createHash } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import acme from "acme-client";
import { z } from "zod";
import type { AcmeSettings } from "./settings";

const AccountFile = z.object({
  directoryUrl: z.string(),
  accountUrl: z.string(),
  email: z.string().optional(),
});

export function accountDir(certsDir: string, directoryUrl: string): string {
  const url = new URL(directoryUrl);
  const hash = createHash("sha256").update(directoryUrl).digest("hex").slice(0, 12);
  return join(certsDir, "_acme", `${url.hostname.replace(/[^a-z0-9.-]/gi, "_")}-${hash}`);
}

async function loadOrCreateKey(dir: string): Promise<Buffer> {
  const file = join(dir, "account.key");
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${crypto.randomUUID().slice(0, 8)}`;
    writeFileSync(tmp, await acme.crypto.createPrivateEcdsaKey("P-256"), { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return readFileSync(file);
}

/** A client whose account exists at the CA (registered or looked up once, then remembered). */
export async function accountClient(certsDir: string, settings: AcmeSettings): Promise<acme.Client> {
  const dir = accountDir(certsDir, settings.directoryUrl);
  const accountKey = await loadOrCreateKey(dir);
  const file = join(dir, "account.json");
  const saved = existsSync(file) ? AccountFile.safeParse(JSON.parse(readFileSync(file, "utf8"))) : null;
  const known = saved?.success && saved.data.directoryUrl === settings.directoryUrl ? saved.data : null;
  const client = new acme.Client({
    directoryUrl: settings.directoryUrl,
    accountKey,
    ...(known ? { accountUrl: known.accountUrl } : {}),
    // Status polling (challenge, order): quick first checks, bounded total wait (~2 min).
    backoffAttempts: 10,
    backoffMin: 1_000,
    backoffMax: 30_000,
  });
  if (known && known.email === settings.email) return client;
  await client.createAccount({
    termsOfServiceAgreed: true,
    ...(settings.email ? { contact: [`mailto:${settings.email}`] } : {}),
  });
  const next = {
    directoryUrl: settings.directoryUrl,
    accountUrl: client.getAccountUrl(),
    ...(settings.email ? { email: settings.email } : {}),
  };
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
  return client;
}
