/**
 * Certificate days left for the overview without reading certificate files per request: a
 * domain's current link (one readlink) names its version directory, whose expiry is read once
 * from its meta.json (never by parsing the certificate: certs/store.ts loadCertificateMeta) and kept. A renewal or import points the link at a new version (certs/store.ts), so a new
 * certificate shows at once; nothing else is read again.
 */
import { loadCertificateMeta, currentVersion } from "../certs/store";
import { daysLeft } from "../certs/renewal";

/** Versions are kept a few per domain; far more than a fleet's envs means stale entries: start over. */
const MAX_ENTRIES = 5000;

export class CertExpiry {
  private readonly notAfter = new Map<string, Date | null>();

  constructor(private readonly certsDir: string) {}

  /** Null: no certificate, or one that cannot be read (the certificates page says why). */
  daysLeft(domain: string, now: Date): number | null {
    let version: string | null;
    try {
      version = currentVersion(this.certsDir, domain);
    } catch {
      return null;
    }
    if (version === null) return null;
    const key = `${domain}\0${version}`;
    if (!this.notAfter.has(key)) {
      if (this.notAfter.size >= MAX_ENTRIES) this.notAfter.clear();
      this.notAfter.set(key, this.read(domain));
    }
    const at = this.notAfter.get(key);
    return at ? daysLeft({ notAfter: at }, now) : null;
  }

  private read(domain: string): Date | null {
    try {
      const meta = loadCertificateMeta(this.certsDir, domain);
      return meta ? new Date(meta.notAfter) : null;
    } catch {
      return null;
    }
  }
}
